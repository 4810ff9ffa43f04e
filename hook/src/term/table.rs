//! Terminal tables, one style for every command.

use std::borrow::Cow;
use std::io::IsTerminal;

use comfy_table::{Cell, ContentArrangement, presets};

use crate::text::printable;

/// Width used when stdout is not a terminal (piped into a file or a pager).
const PIPED_WIDTH: u16 = 140;

/// A table of recorded data: every cell is shown through [`printable`], so no cell can carry
/// a terminal escape (a line break inside a cell still starts a new line within the cell).
pub struct Table(comfy_table::Table);

/// A table with `header`, fitted to the terminal (or to 140 columns when piped).
pub fn new<I, T>(header: I) -> Table
where
    I: IntoIterator<Item = T>,
    T: Into<Cell>,
{
    let mut table = comfy_table::Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    if !std::io::stdout().is_terminal() {
        table.set_width(PIPED_WIDTH);
    }
    Table(table)
}

impl Table {
    /// Adds a row of cells.
    pub fn add_row<I, T>(&mut self, row: I) -> &mut Self
    where
        I: IntoIterator<Item = T>,
        T: Into<Cell>,
    {
        self.0
            .add_row(row.into_iter().map(|cell| printable_cell(cell.into())));
        self
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// `cell`, or when its text holds a control character, a plain cell of that text escaped line
/// by line (its colour and alignment are dropped: only hostile text has them).
fn printable_cell(cell: Cell) -> Cell {
    let content = cell.content();
    if content
        .split('\n')
        .all(|line| matches!(printable(line), Cow::Borrowed(_)))
    {
        return cell;
    }
    let lines: Vec<_> = content.split('\n').map(printable).collect();
    Cell::new(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cells_are_printable_and_keep_their_lines() {
        let mut table = super::new(["tool", "subject"]);
        table.add_row(["Bash\x1b[31m", "echo \x1b]0;title\x07\nsecond line"]);
        let text = table.to_string();
        assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text}");
        assert!(text.contains("Bash\\x1b[31m"), "{text}");
        assert!(text.contains("echo \\x1b]0;title\\x07"), "{text}");
        assert!(text.contains("second line"), "{text}");
    }
}
