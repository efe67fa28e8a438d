import Yams

/// Why a configuration was refused; the text is what etcd prints.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
  case flags(String)
  case invalid(flag: String, value: String, reason: String)
  case environmentConflict(String)
  case configFile(String)

  public var description: String {
    switch self {
    case .flags(let text): text
    case .invalid(let flag, let value, let reason):
      "invalid value \"\(value)\" for flag -\(flag): \(reason)"
    case .environmentConflict(let variable):
      "conflicting environment variable \"\(variable)\" is shadowed by corresponding "
        + "command-line flag (either unset environment variable or disable flag)"
    case .configFile(let text): text
    }
  }
}

/// What a command line asks for.
public struct LoadedConfig: Sendable {
  public var config: ServerConfig
  public var showVersion = false
  public var showHelp = false
  /// Things worth logging at start-up, as etcd does (variables used or not
  /// recognized).
  public var notices: [String] = []
}

/// Builds a `ServerConfig` the way etcd 3.4 does: command-line flags first,
/// then ETCD_* variables for flags not given; with --config-file (or
/// ETCD_CONFIG_FILE) the YAML file alone decides and other flags and
/// variables are ignored.
public enum ConfigLoader {
  static let flagSet: GoFlagSet = {
    var set = GoFlagSet()
    for (name, kind, usage) in flagTable { set.define(name, kind, usage) }
    return set
  }()

  /// Flags that select what to do rather than configure the member; they
  /// have no ETCD_* variable and no config-file key.
  static let commandFlags: Set<String> = ["version", "help", "h", "config-file"]

  public static func load(
    arguments: [String], environment: [String: String],
    readFile: (String) throws -> String
  ) throws(ConfigError) -> LoadedConfig {
    let given: [(name: String, value: String)]
    do {
      given = try flagSet.parse(arguments)
    } catch {
      throw .flags(error.description)
    }
    var loaded = LoadedConfig(config: ServerConfig())
    let givenNames = Set(given.map(\.name))
    loaded.showVersion = given.contains { $0.name == "version" && $0.value == "true" }
    loaded.showHelp = given.contains { ($0.name == "help" || $0.name == "h") && $0.value == "true" }

    var configFile = given.last { $0.name == "config-file" }?.value
    if configFile == nil, let fromEnv = environment["ETCD_CONFIG_FILE"], !fromEnv.isEmpty {
      configFile = fromEnv
    }
    if let configFile {
      let text: String
      do {
        text = try readFile(configFile)
      } catch {
        throw .configFile("cannot read config file \(configFile): \(error)")
      }
      try applyYAML(text, to: &loaded.config)
      return loaded
    }

    for (name, value) in given where !commandFlags.contains(name) {
      try apply(name, value, to: &loaded.config)
    }
    try applyEnvironment(environment, given: givenNames, to: &loaded)
    return loaded
  }

  private static func applyEnvironment(
    _ environment: [String: String], given: Set<String>, to loaded: inout LoadedConfig
  ) throws(ConfigError) {
    var known: Set<String> = ["ETCD_CONFIG_FILE"]
    for name in flagSet.order where !commandFlags.contains(name) {
      let variable = GoFlagSet.environmentName(name)
      known.insert(variable)
      guard let value = environment[variable] else { continue }
      if given.contains(name) { throw .environmentConflict(variable) }
      try apply(name, value, to: &loaded.config)
      loaded.notices.append("recognized and used environment variable \(variable)=\(value)")
    }
    for (variable, value) in environment.sorted(by: { $0.key < $1.key })
    where variable.hasPrefix("ETCD_") && !known.contains(variable) {
      loaded.notices.append("unrecognized environment variable \(variable)=\(value)")
    }
  }

  /// The YAML keys are the flag names; lists may be YAML sequences or the
  /// comma-separated strings the flags take. Unknown keys are ignored, as
  /// etcd's non-strict YAML decoding does.
  private static func applyYAML(_ text: String, to config: inout ServerConfig) throws(ConfigError) {
    let root: Node?
    do {
      root = try Yams.compose(yaml: text)
    } catch {
      throw .configFile("error parsing config file: \(error)")
    }
    guard let root else { return }
    guard let mapping = root.mapping else {
      throw .configFile("error parsing config file: the top level is not a mapping")
    }
    for (keyNode, valueNode) in mapping {
      guard let key = keyNode.string, flagSet.definitions[key] != nil,
        !commandFlags.contains(key)
      else { continue }
      var value: String
      if let sequence = valueNode.sequence {
        value = sequence.compactMap(\.string).joined(separator: ",")
      } else if let scalar = valueNode.scalar {
        // YAML's null is an empty value, as Go decodes it.
        value = scalar.string == "null" || scalar.string == "~" ? "" : scalar.string
      } else {
        throw .configFile("error parsing config file: \(key) must be a value or a list")
      }
      // etcd reads a duration in the file as Go's JSON decoding of a
      // time.Duration does: a bare number counts nanoseconds.
      if durationFlags.contains(key), Int64(value) != nil { value += "ns" }
      try apply(key, value, to: &config)
    }
  }
}
