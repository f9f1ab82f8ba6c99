/** A setting is missing or wrong; the message starts with the variable's name. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}
