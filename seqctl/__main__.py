from seqctl.cli import main

main()
