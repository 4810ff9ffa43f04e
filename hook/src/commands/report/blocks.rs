//! Claude's 5-hour usage blocks, exactly as ccusage counts them ([`crate::store::usage::group_blocks`]),
//! with gap blocks, the active block's burn rate, its projection to the block's end, and when
//! it will reach a token or cost limit.

use anyhow::{Result, bail};
use rusqlite::Connection;
use serde::Serialize;
use serde_json::{Value, json};

use super::render::{self, num};
use super::scope::rfc3339_millis;
use super::{Filter, Format, Scope};
use crate::store::BUCKET_MS;
use crate::store::cells::{self, Cell, Grain, Selection};
use crate::store::usage::Totals;
use crate::store::usage::{BLOCK_MS, group_blocks};

/// How long after its start `--recent` keeps a block (ccusage: 3 days).
const RECENT_MS: i64 = 3 * 24 * 3600 * 1000;
/// A projection above this share of a limit is a warning (ccusage's threshold).
const WARNING_SHARE: f64 = 0.8;
const MINUTE_MS: f64 = 60_000.0;

/// Options of `tollgate report blocks`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BlocksArgs {
    /// Only the active block.
    #[arg(long, short)]
    pub active: bool,
    /// Only blocks that started in the last 3 days, and the active one.
    #[arg(long, short)]
    pub recent: bool,
    /// Token limit per block, for the projection: a number, or `max` (the largest finished
    /// block so far).
    #[arg(long, short = 't', value_name = "N|max")]
    pub token_limit: Option<String>,
    /// Cost limit per block in USD, for the projection.
    #[arg(long, value_name = "USD")]
    pub cost_limit: Option<f64>,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub scope: Scope,
    #[command(flatten)]
    #[allow(missing_docs)]
    pub format: Format,
}

/// Tokens and cost per minute of the active block, from its first to its last response.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BurnRate {
    /// All tokens (cache included) per minute.
    pub tokens_per_minute: f64,
    /// Input + output tokens per minute (ccusage's indicator).
    pub tokens_per_minute_for_indicator: f64,
    /// USD per hour.
    pub cost_per_hour: f64,
}

/// Where the active block ends up at its current burn rate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Projection {
    /// Tokens at the block's end.
    pub total_tokens: u64,
    /// USD at the block's end, rounded to cents.
    pub total_cost: f64,
    /// Minutes left in the block.
    pub remaining_minutes: u64,
}

/// One block, or the gap between two.
#[derive(Debug, Clone, PartialEq)]
pub struct BlockRow {
    /// Start: the UTC hour of its first response (for a gap: 5 h after the last one).
    pub start_ms: i64,
    /// Start + 5 h (for a gap: the next response).
    pub end_ms: i64,
    /// First response.
    pub first_ms: i64,
    /// Last response (`None` for a gap).
    pub last_ms: Option<i64>,
    /// Running now.
    pub active: bool,
    /// A gap of more than 5 h without responses.
    pub gap: bool,
    /// Sums.
    pub totals: Totals,
    /// Models in the order first used.
    pub models: Vec<String>,
    /// Burn rate (active block only, with two or more distinct response times).
    pub burn: Option<BurnRate>,
    /// Projection to the block's end (active block only).
    pub projection: Option<Projection>,
}

/// A limit and how the active block's projection compares with it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitStatus {
    /// The limit (tokens or USD).
    pub limit: f64,
    /// The projected usage at the block's end.
    pub projected_usage: f64,
    /// Projected usage as a percentage of the limit.
    pub percent_used: f64,
    /// `ok`, `warning` (over 80 %) or `exceeds`.
    pub status: &'static str,
    /// When the limit is reached at the current rate (RFC 3339), if within the block.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_at: Option<String>,
}

/// The blocks of every response matching `filter`'s projects (ccusage groups everything,
/// then keeps the blocks whose start falls in the range), with gaps, oldest first.
pub fn build(conn: &Connection, filter: &Filter) -> rusqlite::Result<Vec<BlockRow>> {
    let all = Selection {
        since_ms: i64::MIN,
        until_ms: i64::MAX,
        ..filter.selection()
    };
    // 15-minute buckets: a bucket lies in one block, unless one of its responses is exactly on
    // a block's end (that one belongs to the block, the later ones to the next): such a bucket
    // is read response by response, and only that bucket.
    let mut items = by_bucket(cells::query(conn, &all, Grain::Bucket)?);
    while let Some(at) = straddling(&items) {
        let (first, _) = span(&items[at]);
        let start = first - first.rem_euclid(BUCKET_MS);
        let bucket = Selection {
            since_ms: start,
            until_ms: start + BUCKET_MS,
            ..all
        };
        let each = cells::query(conn, &bucket, Grain::Response)?;
        items.splice(at..=at, each.into_iter().map(|cell| vec![cell]));
    }
    let (since, until) = filter.range();
    let mut rows = grouped(items, filter.now_ms);
    rows.retain(|b| b.start_ms >= since && b.start_ms < until);
    Ok(rows)
}

/// The first item that spans two blocks: it starts exactly on its block's end and goes on.
fn straddling(items: &[Vec<Cell>]) -> Option<usize> {
    group_blocks(items.iter().enumerate(), |(_, item)| span(item))
        .into_iter()
        .find_map(|(block, members)| {
            members.into_iter().find_map(|(at, item)| {
                let (first, last) = span(item);
                (first == block.end_ms && last > first).then_some(at)
            })
        })
}

fn by_bucket(cells: Vec<Cell>) -> Vec<Vec<Cell>> {
    let mut items: Vec<Vec<Cell>> = Vec::new();
    for cell in cells {
        match items.last_mut() {
            Some(item) if item[0].bucket == cell.bucket => item.push(cell),
            _ => items.push(vec![cell]),
        }
    }
    items
}

fn span(item: &[Cell]) -> (i64, i64) {
    let first = item.iter().map(|c| c.first_ms).min().unwrap_or(0);
    let last = item.iter().map(|c| c.last_ms).max().unwrap_or(0);
    (first, last)
}

/// The blocks of `items`, none of them [`straddling`].
fn grouped(items: Vec<Vec<Cell>>, now_ms: i64) -> Vec<BlockRow> {
    let mut out: Vec<BlockRow> = Vec::new();
    for (block, items) in group_blocks(items, |item| span(item)) {
        let mut cells: Vec<Cell> = items.into_iter().flatten().collect();
        cells.sort_by_key(|c| c.first_ms);
        let mut totals = Totals::default();
        let mut models: Vec<String> = Vec::new();
        for cell in &cells {
            totals += &cell.totals;
            if !models.contains(&cell.model) {
                models.push(cell.model.clone());
            }
        }
        let (first_ms, last_ms) = span(&cells);
        if let Some(prev) = out.last()
            && let Some(prev_last) = prev.last_ms
            && first_ms - prev_last > BLOCK_MS
        {
            out.push(BlockRow {
                start_ms: prev_last + BLOCK_MS,
                end_ms: first_ms,
                first_ms: prev_last + BLOCK_MS,
                last_ms: None,
                active: false,
                gap: true,
                totals: Totals::default(),
                models: Vec::new(),
                burn: None,
                projection: None,
            });
        }
        let active = block.is_active(now_ms);
        let mut row = BlockRow {
            start_ms: block.start_ms,
            end_ms: block.end_ms,
            first_ms,
            last_ms: Some(last_ms),
            active,
            gap: false,
            totals,
            models,
            burn: None,
            projection: None,
        };
        if active {
            row.burn = burn_rate(&row);
            row.projection = row.burn.map(|burn| project(&row, burn, now_ms));
        }
        out.push(row);
    }
    out
}

/// ccusage's burn rate: over the minutes from the first to the last response.
fn burn_rate(block: &BlockRow) -> Option<BurnRate> {
    let minutes = (block.last_ms? - block.first_ms) as f64 / MINUTE_MS;
    if minutes <= 0.0 {
        return None;
    }
    let t = &block.totals.tokens;
    Some(BurnRate {
        tokens_per_minute: t.total() as f64 / minutes,
        tokens_per_minute_for_indicator: (t.input + t.output) as f64 / minutes,
        cost_per_hour: block.totals.cost_usd / minutes * 60.0,
    })
}

/// ccusage's projection: the current rates carried to the block's end.
fn project(block: &BlockRow, burn: BurnRate, now_ms: i64) -> Projection {
    let remaining = ((block.end_ms - now_ms).max(0) as f64 / MINUTE_MS).round();
    Projection {
        total_tokens: (block.totals.tokens.total() as f64 + burn.tokens_per_minute * remaining)
            .round() as u64,
        total_cost: ((block.totals.cost_usd + burn.cost_per_hour / 60.0 * remaining) * 100.0)
            .round()
            / 100.0,
        remaining_minutes: remaining as u64,
    }
}

/// The token limit `--token-limit` names: a number, or `max` (the largest finished block).
pub fn token_limit(text: &str, blocks: &[BlockRow]) -> Result<Option<u64>> {
    if text.eq_ignore_ascii_case("max") {
        return Ok(blocks
            .iter()
            .filter(|b| !b.gap && !b.active)
            .map(|b| b.totals.tokens.total())
            .max()
            .filter(|m| *m > 0));
    }
    match text.replace(['_', ','], "").parse::<u64>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => bail!("--token-limit \"{text}\" is not a number of tokens or `max`"),
    }
}

/// How the active block compares with `limit`: `used` now, `projected` at the block's end,
/// growing by `per_minute`.
fn limit_status(
    block: &BlockRow,
    limit: f64,
    used: f64,
    projected: f64,
    per_minute: f64,
    now_ms: i64,
) -> LimitStatus {
    let status = if projected > limit {
        "exceeds"
    } else if projected > WARNING_SHARE * limit {
        "warning"
    } else {
        "ok"
    };
    let reached_at = if used >= limit {
        Some(now_ms)
    } else if per_minute > 0.0 {
        let at = now_ms + ((limit - used) / per_minute * MINUTE_MS) as i64;
        (at < block.end_ms).then_some(at)
    } else {
        None
    };
    LimitStatus {
        limit,
        projected_usage: projected,
        percent_used: if limit > 0.0 {
            projected / limit * 100.0
        } else {
            0.0
        },
        status,
        reached_at: reached_at.map(rfc3339_millis),
    }
}

/// The token and cost limit statuses of an active block with a projection.
fn statuses(
    block: &BlockRow,
    tokens: Option<u64>,
    cost: Option<f64>,
    now_ms: i64,
) -> (Option<LimitStatus>, Option<LimitStatus>) {
    let (Some(burn), Some(projection)) = (block.burn, block.projection) else {
        return (None, None);
    };
    let token = tokens.map(|limit| {
        limit_status(
            block,
            limit as f64,
            block.totals.tokens.total() as f64,
            projection.total_tokens as f64,
            burn.tokens_per_minute,
            now_ms,
        )
    });
    let cost = cost.map(|limit| {
        limit_status(
            block,
            limit,
            block.totals.cost_usd,
            projection.total_cost,
            burn.cost_per_hour / 60.0,
            now_ms,
        )
    });
    (token, cost)
}

/// Runs `tollgate report blocks`.
pub fn run(args: &BlocksArgs) -> Result<()> {
    let opened = args.scope.open()?;
    let filter = &opened.filter;
    let mut blocks = build(opened.store.conn(), filter)?;
    let tokens = args
        .token_limit
        .as_deref()
        .map(|t| token_limit(t, &blocks))
        .transpose()?
        .flatten();
    if args.cost_limit.is_some_and(|c| c.is_nan() || c <= 0.0) {
        bail!("--cost-limit must be a positive number of USD");
    }
    if args.recent {
        blocks.retain(|b| b.start_ms >= filter.now_ms - RECENT_MS || b.active);
    }
    if args.active {
        blocks.retain(|b| b.active);
    }
    if args.format.json {
        return render::print_json(&to_json(&blocks, tokens, args.cost_limit, filter.now_ms));
    }
    if args.format.csv {
        return print_csv(&blocks);
    }
    print_table(&blocks, tokens, args.cost_limit, filter);
    Ok(())
}

/// ccusage's `blocks --json` shape, costs `null` when unknown, plus tollgate's cost limit.
pub fn to_json(blocks: &[BlockRow], tokens: Option<u64>, cost: Option<f64>, now_ms: i64) -> Value {
    let list: Vec<Value> = blocks
        .iter()
        .map(|b| {
            let t = &b.totals.tokens;
            let mut value = json!({
                "id": if b.gap { format!("gap-{}", rfc3339_millis(b.start_ms)) } else { rfc3339_millis(b.start_ms) },
                "startTime": rfc3339_millis(b.start_ms),
                "endTime": rfc3339_millis(b.end_ms),
                "actualEndTime": b.last_ms.map(rfc3339_millis),
                "isActive": b.active,
                "isGap": b.gap,
                "entries": b.totals.messages,
                "unpricedEntries": b.totals.unpriced,
                "tokenCounts": {
                    "inputTokens": t.input,
                    "outputTokens": t.output,
                    "cacheCreationInputTokens": t.cache_write(),
                    "cacheReadInputTokens": t.cache_read,
                },
                "totalTokens": t.total(),
                "costUSD": b.totals.cost(),
                "models": b.models,
                "burnRate": b.burn,
                "projection": b.projection,
            });
            let (token_status, cost_status) = statuses(b, tokens, cost, now_ms);
            if let Some(status) = token_status {
                value["tokenLimitStatus"] = json!(status);
            }
            if let Some(status) = cost_status {
                value["costLimitStatus"] = json!(status);
            }
            value
        })
        .collect();
    // Moved in, not `json!`: that would copy every block's tree.
    Value::Object(serde_json::Map::from_iter([(
        "blocks".into(),
        Value::Array(list),
    )]))
}

fn print_csv(blocks: &[BlockRow]) -> Result<()> {
    let mut header = vec!["start", "end", "last_response", "active", "gap"];
    header.extend(render::TOTALS_HEADER);
    header.push("models");
    let rows = blocks.iter().map(|b| {
        let mut fields = vec![
            rfc3339_millis(b.start_ms),
            rfc3339_millis(b.end_ms),
            b.last_ms.map(rfc3339_millis).unwrap_or_default(),
            b.active.to_string(),
            b.gap.to_string(),
        ];
        fields.extend(render::totals_fields(&b.totals));
        fields.push(b.models.join(" "));
        fields
    });
    render::print_csv(&header, rows)
}

fn print_table(blocks: &[BlockRow], tokens: Option<u64>, cost: Option<f64>, filter: &Filter) {
    if blocks.is_empty() {
        println!(
            "No usage blocks in this range. Run `tollgate import` to read Claude Code's existing transcripts."
        );
        return;
    }
    let mut header = vec![
        "Block start",
        "Status",
        "Models",
        "Responses",
        "Input",
        "Output",
        "Cache write",
        "Cache read",
        "Total tokens",
    ];
    if tokens.is_some() {
        header.push("% of limit");
    }
    header.push("Cost");
    let mut table = crate::term::table::new(header);
    let mut unpriced = std::collections::BTreeSet::new();
    for b in blocks {
        let start = filter.local(b.start_ms, "%Y-%m-%d %H:%M");
        if b.gap {
            let hours = (b.end_ms - b.start_ms) as f64 / 3_600_000.0;
            table.add_row(vec![
                comfy_table::Cell::new(start),
                comfy_table::Cell::new(format!("gap, {hours:.1} h")),
            ]);
            continue;
        }
        if b.totals.unpriced > 0 {
            unpriced.extend(b.models.iter().cloned());
        }
        let status = if b.active {
            format!(
                "ACTIVE, {} left",
                render::minutes((b.end_ms - filter.now_ms) / 60_000)
            )
        } else {
            render::minutes((b.last_ms.unwrap_or(b.first_ms) - b.start_ms) / 60_000)
        };
        let t = &b.totals.tokens;
        let models: Vec<String> = b.models.iter().map(|m| render::short_model(m)).collect();
        let mut cells = vec![
            comfy_table::Cell::new(start),
            comfy_table::Cell::new(status),
            comfy_table::Cell::new(models.join(", ")),
            num(render::count(b.totals.messages)),
            num(render::count(t.input)),
            num(render::count(t.output)),
            num(render::count(t.cache_write())),
            num(render::count(t.cache_read)),
            num(render::count(t.total())),
        ];
        if let Some(limit) = tokens {
            cells.push(num(format!(
                "{:.0}%",
                t.total() as f64 / limit as f64 * 100.0
            )));
        }
        cells.push(num(render::cost(&b.totals)));
        table.add_row(cells);
    }
    println!("{table}");
    if let Some(active) = blocks.iter().find(|b| b.active) {
        println!("{}", describe_active(active, tokens, cost, filter));
    }
    if !unpriced.is_empty() {
        println!(
            "Some blocks hold responses of models with no price: their cost is left out (\"unpriced\"). Add them under [prices] in the config."
        );
    }
}

/// The active block in words: time left, burn rate, projection, limits.
pub fn describe_active(
    b: &BlockRow,
    tokens: Option<u64>,
    cost: Option<f64>,
    filter: &Filter,
) -> String {
    let hm = |ms: i64| filter.local(ms, "%H:%M");
    let mut lines = vec![format!(
        "Active block {}–{} ({} left)",
        hm(b.start_ms),
        hm(b.end_ms),
        render::minutes((b.end_ms - filter.now_ms) / 60_000)
    )];
    let (Some(burn), Some(projection)) = (b.burn, b.projection) else {
        lines.push("  burn rate   not yet known (one response so far)".to_owned());
        return lines.join("\n");
    };
    lines.push(format!(
        "  burn rate   {} tokens/min ({} input+output), {}/h",
        render::count(burn.tokens_per_minute.round() as u64),
        render::count(burn.tokens_per_minute_for_indicator.round() as u64),
        render::usd(burn.cost_per_hour)
    ));
    lines.push(format!(
        "  projection  {} tokens, {} by {}",
        render::count(projection.total_tokens),
        render::usd(projection.total_cost),
        hm(b.end_ms)
    ));
    let (token_status, cost_status) = statuses(b, tokens, cost, filter.now_ms);
    let describe = |name: &str, limit: String, s: LimitStatus| {
        let when = match &s.reached_at {
            Some(at) => {
                let ms = chrono::DateTime::parse_from_rfc3339(at)
                    .map_or(filter.now_ms, |t| t.timestamp_millis());
                if ms <= filter.now_ms {
                    "already reached".to_owned()
                } else {
                    format!(
                        "reached at {} (in {})",
                        hm(ms),
                        render::minutes((ms - filter.now_ms) / 60_000)
                    )
                }
            }
            None => "not reached in this block at this rate".to_owned(),
        };
        format!(
            "  {name:<11} {limit}: {:.0}% projected ({}), {when}",
            s.percent_used, s.status
        )
    };
    if let (Some(limit), Some(s)) = (tokens, token_status) {
        lines.push(describe("token limit", render::count(limit), s));
    }
    if let (Some(limit), Some(s)) = (cost, cost_status) {
        lines.push(describe("cost limit", render::usd(limit), s));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::report::scope::tests::{entry, everything, store_with};

    const T0: i64 = 1_794_448_800_000; // 2026-11-12T02:00:00Z
    const MIN: i64 = 60_000;

    #[test]
    fn blocks_gaps_and_the_active_block() {
        let at = |m: i64| T0 + m * MIN;
        let (_dir, store) = store_with(&[
            entry("a", at(10), "s1", "claude-opus-4-5", 5),
            entry("b", at(300), "s1", "claude-opus-4-5", 5), // exactly start + 5 h: same block
            entry("c", at(301), "s1", "claude-haiku-4-5", 5), // same bucket, next block
            entry("d", at(900), "s1", "claude-opus-4-5", 5),
            entry("e", at(960), "s1", "claude-haiku-4-5", 5),
        ]);
        let mut filter = everything();
        filter.now_ms = at(990);
        let blocks = build(store.conn(), &filter).unwrap();
        let summary: Vec<(i64, bool, u64)> = blocks
            .iter()
            .map(|b| ((b.start_ms - T0) / MIN, b.gap, b.totals.messages))
            .collect();
        assert_eq!(
            summary,
            [
                (0, false, 2),
                (300, false, 1),
                (601, true, 0),
                (900, false, 2)
            ]
        );
        let active = &blocks[3];
        assert!(active.active);
        assert_eq!(active.models, ["claude-opus-4-5", "claude-haiku-4-5"]);
        let burn = active.burn.unwrap();
        assert!((burn.tokens_per_minute - 2.0 * 1115.0 / 60.0).abs() < 1e-9);
        assert!((burn.tokens_per_minute_for_indicator - 30.0 / 60.0).abs() < 1e-9);
        let projection = active.projection.unwrap();
        assert_eq!(projection.remaining_minutes, 210);
        assert_eq!(
            projection.total_tokens,
            (2230.0 + 2230.0 / 60.0 * 210.0_f64).round() as u64
        );
        assert!(
            blocks[0].burn.is_none(),
            "only the active block has a burn rate"
        );

        let (tokens, _) = statuses(active, Some(5000), None, filter.now_ms);
        let tokens = tokens.unwrap();
        assert_eq!(tokens.status, "exceeds");
        assert!(tokens.reached_at.is_some());
        assert_eq!(token_limit("max", &blocks).unwrap(), Some(2230));

        filter.since_ms = Some(at(800));
        assert_eq!(
            build(store.conn(), &filter).unwrap().len(),
            1,
            "by block start"
        );
    }
}
