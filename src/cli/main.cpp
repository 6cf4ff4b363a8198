// soroka: entry point; everything lives in the libraries.
#include "cli/commands.h"

int main(int argc, char** argv) { return soroka::cli::run(argc, argv); }
