from dataset_api.cli import main

main()
