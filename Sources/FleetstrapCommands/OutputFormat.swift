// `--output text|json`, shared by the commands that print a result.
import ArgumentParser

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}
