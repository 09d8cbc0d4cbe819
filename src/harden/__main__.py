from harden.entry import main

main()
