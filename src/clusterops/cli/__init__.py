"""The command line: each module parses arguments, calls one library function and renders."""
