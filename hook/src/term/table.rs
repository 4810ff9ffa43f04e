//! Terminal tables, one style for every command.

use std::io::IsTerminal;

use comfy_table::{ContentArrangement, Table, presets};

/// Width used when stdout is not a terminal (piped into a file or a pager).
const PIPED_WIDTH: u16 = 140;

/// A table with `header`, fitted to the terminal (or to 140 columns when piped).
pub fn new<I, T>(header: I) -> Table
where
    I: IntoIterator<Item = T>,
    T: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if !std::io::stdout().is_terminal() {
        table.set_width(PIPED_WIDTH);
    }
    table
}
