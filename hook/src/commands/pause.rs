//! `tollgate pause` and `tollgate resume`: the user's way to let everything through for a
//! while (see [`crate::hook::pause`]). The guard keeps the agent from running either one.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use chrono::{DateTime, Local};

use crate::hook::pause;

/// Options of `tollgate pause`.
#[derive(Debug, Clone, clap::Args)]
pub struct PauseArgs {
    /// How long: `30m`, `2h`, `1h30m` (at most 24h).
    #[arg(long = "for", value_name = "DURATION", default_value = "30m")]
    pub duration: String,
}

/// `tollgate pause`.
pub fn pause(args: &PauseArgs) -> Result<ExitCode> {
    let seconds = crate::term::clock::parse_duration(&args.duration)
        .filter(|s| *s > 0)
        .with_context(|| {
            format!(
                "cannot read the duration \"{}\": use e.g. 30m, 2h or 1h30m",
                args.duration
            )
        })?;
    if seconds * 1000 > pause::MAX_MS {
        bail!(
            "a pause lasts at most {}h; to turn enforcement off for longer, set `enforce = false` on the policies in your config",
            pause::MAX_MS / 3_600_000
        );
    }
    let paths = crate::paths::Paths::discover()?;
    let now_ms = crate::term::clock::now_ms();
    let until_ms = now_ms + seconds * 1000;
    pause::start(&paths, until_ms).with_context(|| {
        format!(
            "cannot write {}: is the data directory writable?",
            pause::file(&paths).display()
        )
    })?;
    println!(
        "tollgate is paused until {}: every hook call is recorded and answered allow (the guard included), and `tollgate log` shows what it would have answered. `tollgate resume` ends it sooner.",
        local_hm(until_ms, now_ms)
    );
    Ok(ExitCode::SUCCESS)
}

/// `tollgate resume`.
pub fn resume() -> Result<ExitCode> {
    let paths = crate::paths::Paths::discover()?;
    let was_paused = pause::until(&paths, crate::term::clock::now_ms()).is_some();
    pause::end(&paths)
        .with_context(|| format!("cannot remove {}", pause::file(&paths).display()))?;
    if was_paused {
        println!("tollgate is no longer paused: policies and the guard answer again.");
    } else {
        println!("tollgate was not paused.");
    }
    Ok(ExitCode::SUCCESS)
}

/// `ms` as `14:35` in local time (`Thu 14:35` when it is not the day of `now_ms`).
pub fn local_hm(ms: i64, now_ms: i64) -> String {
    let Some(time) = DateTime::from_timestamp_millis(ms) else {
        return ms.to_string();
    };
    let local = time.with_timezone(&Local);
    let now = DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .with_timezone(&Local);
    if local.date_naive() == now.date_naive() {
        local.format("%H:%M").to_string()
    } else {
        local.format("%a %H:%M").to_string()
    }
}
