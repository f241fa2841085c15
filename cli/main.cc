// stchat: one executable, one subcommand per role (cli/commands.cc lists them; each lives in
// cli/<name>_command.cc). `stchat --help` lists them.
#include <cstring>
#include <iostream>

#include "args.h"
#include "commands.h"
#include "stchat/common/log.h"

int main(int argc, char** argv) {
    using namespace stchat::cli;
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
        !std::strcmp(argv[1], "help")) {
        (argc < 2 ? std::cerr : std::cout) << main_help();
        return argc < 2 ? 2 : 0;
    }
    const command* c = find_command(argv[1]);
    if (!c) {
        std::cerr << "stchat: unknown command '" << argv[1] << "' (see stchat --help)\n";
        return 2;
    }
    try {
        return c->run(argc, argv);
    } catch (const usage_error& e) {
        std::cerr << "stchat " << argv[1] << ": " << e.what() << " (see stchat " << argv[1] << " --help)\n";
        return 2;
    } catch (const std::exception& e) {
        stchat::log::error(argv[1], e.what());
        return 1;
    }
}
