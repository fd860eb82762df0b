from llmpulse.cli import main

main()
