from hipext.cli import main

main()
