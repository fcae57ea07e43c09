from cherga.cli import main

main()
