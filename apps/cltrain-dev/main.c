/* main.c: cltrain-dev's entry point; the commands are in dev.c. */
#include "dev.h"

int main(int argc, char **argv) { return dev_main(argc, argv); }
