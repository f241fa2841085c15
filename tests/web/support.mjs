// Shared by the Node tests: a free port, waiting on a condition, waiting for a server's /healthz.
import net from "node:net";

export function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Polls `condition` every 10 ms; throws naming `what` after `ms`.
export async function until(condition, what, ms = 20000) {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function healthy(port) {
  try {
    return (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200;
  } catch { return false; }
}

// Resolves with the time /healthz on `port` first answered 200; throws after `ms`.
export async function waitHealthy(port, what, ms = 30000) {
  const deadline = Date.now() + ms;
  while (!(await healthy(port))) {
    if (Date.now() > deadline) throw new Error(`${what} did not become healthy`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now();
}
