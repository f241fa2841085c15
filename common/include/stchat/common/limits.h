#pragma once
// Process limits. A WebSocket server holds one file descriptor per connection: 10,000 idle
// connections need more than the usual soft limit of 1,024.

namespace stchat {

// Raises the soft limit on open files to the hard limit; returns the limit now in force.
long raise_open_files_limit();

}  // namespace stchat
