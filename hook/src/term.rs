//! Terminal output: tables, gauges and the clock the displays read.

pub mod clock;
pub mod gauge;
pub mod table;
