import VigilCLI

await VigilMain.run(arguments: CommandLine.arguments)
