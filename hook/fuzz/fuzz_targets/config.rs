//! A config file (user or project overlay): a config or a clear error; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate::config::Config;

fuzz_target!(|text: &str| {
    if let Ok(config) = Config::parse(text, std::path::Path::new("tollgate.toml")) {
        let _ = config.calendar();
        for policy in config.active_policies() {
            let _ = policy.applies_to("PreToolUse", Some("Read"));
        }
    }
});
