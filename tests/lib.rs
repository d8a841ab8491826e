//! Helpers shared by the end-to-end tests and the benchmarks: the repository's own
//! configuration and pipeline definition.

use shipgate_core::Config;

pub const STATEMACHINE: &str = include_str!("../statemachine.json");
pub const CONFIG: &str = include_str!("../shipgate.toml");

pub fn config() -> Config {
    match Config::from_toml_str(CONFIG) {
        Ok(config) => config,
        Err(err) => panic!("the repository's shipgate.toml is invalid: {err}"),
    }
}
