#pragma once
// The subcommands: one file each (cli/<name>_command.cc, rpk's shape), one list of them
// (commands.cc). The list makes `stchat --help` and the dispatch in main.cc; nothing else names
// the commands.
#include <string>
#include <vector>

namespace stchat::cli {

struct command {
    const char* name;     // "rebuild"
    const char* usage;    // "rebuild TABLE" as the top-level help shows it
    const char* summary;  // one line
    int (*run)(int argc, char** argv);  // argv as main received it: argv[1] is the name
};

const std::vector<command>& all_commands();
const command* find_command(const std::string& name);
// `stchat --help`: the commands, each with its summary, then examples.
std::string main_help();

int cmd_migrate(int argc, char** argv);
int cmd_ingest(int argc, char** argv);
int cmd_project(int argc, char** argv);
int cmd_feed(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_status(int argc, char** argv);
int cmd_replay(int argc, char** argv);
int cmd_rebuild(int argc, char** argv);
int cmd_reconcile(int argc, char** argv);
int cmd_compact(int argc, char** argv);
int cmd_outbox(int argc, char** argv);
int cmd_bench(int argc, char** argv);

}  // namespace stchat::cli
