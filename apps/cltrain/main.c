/* main.c: the cltrain command-line tool's entry point; the commands are in cli.c and cmd_*.c. */
#include "cli.h"

int main(int argc, char **argv) { return cli_main(argc, argv); }
