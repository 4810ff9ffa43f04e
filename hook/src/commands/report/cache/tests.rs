use super::*;
use crate::commands::report::scope::tests::{everything, store_with};
use crate::store::ingest::Entry;

/// 2026-12-01 09:00 UTC.
const T0: i64 = 1_796_115_600_000;
const MIN: i64 = 60_000;
const MODEL: &str = "claude-sonnet-4-5";

fn response(id: &str, session: &str, minute: i64, tokens: [u64; 4]) -> Entry {
    let [input, cache_write_5m, cache_write_1h, cache_read] = tokens;
    Entry {
        message_id: id.into(),
        request_id: format!("r-{id}"),
        ts_ms: T0 + minute * MIN,
        session_id: session.into(),
        project: "/p".into(),
        model: MODEL.into(),
        sidechain: false,
        agent_id: None,
        tokens: Tokens {
            input,
            output: 50,
            cache_write_5m,
            cache_write_1h,
            cache_read,
        },
    }
}

/// `short`: 5-minute writes, idle 10 minutes once; `long`: 1-hour writes, idle 30 minutes
/// (within the hour) and then 2 hours.
fn entries() -> Vec<Entry> {
    vec![
        response("s1", "short", 0, [10, 20_000, 0, 0]),
        response("s2", "short", 2, [10, 500, 0, 20_000]),
        response("s3", "short", 12, [10, 20_400, 0, 0]),
        response("s4", "short", 13, [10, 300, 0, 20_400]),
        response("l1", "long", 0, [10, 0, 30_000, 0]),
        response("l2", "long", 30, [10, 0, 30_000, 0]),
        response("l3", "long", 150, [10, 0, 30_500, 0]),
    ]
}

#[test]
fn a_rewrite_after_the_lifetime_is_a_lapse() {
    let (_dir, store) = store_with(&entries());
    let pricing = Pricing::bundled();
    let report = build(store.conn(), &pricing, &everything(), By::Session).unwrap();
    let at: Vec<(&str, i64, i64)> = report
        .lapses
        .iter()
        .map(|l| {
            (
                l.session_id.as_str(),
                (l.ts_ms - T0) / MIN,
                l.lifetime_ms / MIN,
            )
        })
        .collect();
    assert_eq!(
        at,
        [("short", 12, 5), ("long", 150, 60)],
        "not the first response, not l2"
    );

    let lapse = &report.lapses[0];
    assert_eq!(
        (lapse.context_tokens, lapse.rewritten_tokens),
        (20_410, 20_400)
    );
    assert_eq!(lapse.idle_ms, 10 * MIN);
    let price = pricing.price(MODEL).unwrap();
    let expected = 20_400.0 * (price.cache_write_5m - price.cache_read) / 1e6;
    assert!((lapse.extra_usd.unwrap() - expected).abs() < 1e-12);
    assert!(lapse.cost_usd.unwrap() > lapse.as_read_usd.unwrap());

    let short = report.rows.iter().find(|r| r.key == "short").unwrap();
    assert_eq!(short.responses, 4);
    assert_eq!(short.cache_read_tokens, 40_400);
    let all = 40 + 20_000 + 500 + 20_400 + 300 + 40_400;
    assert_eq!(short.input_tokens, all);
    assert_eq!(short.hit_ratio, Some(40_400.0 / all as f64));
    assert_eq!(short.lapses, 1);
    assert_eq!(report.totals.lapses, 2);
    assert_eq!(report.totals.responses, 7);
}

/// A range starting between two responses still knows the gap before its first one.
#[test]
fn the_gap_before_a_range_counts() {
    let (_dir, store) = store_with(&entries());
    let mut filter = everything();
    filter.since_ms = Some(T0 + 11 * MIN);
    let report = build(store.conn(), &Pricing::bundled(), &filter, By::Day).unwrap();
    assert_eq!(report.rows.len(), 1);
    assert_eq!(report.rows[0].key, "2026-12-01");
    assert_eq!(report.lapses.len(), 2);
    assert_eq!(report.lapses[0].idle_ms, 10 * MIN);
}

#[test]
fn an_unpriced_model_has_an_unknown_cost() {
    let mut entries = entries();
    for e in &mut entries {
        e.model = "mystery".into();
    }
    let (_dir, store) = store_with(&entries);
    let report = build(
        store.conn(),
        &Pricing::bundled(),
        &everything(),
        By::Session,
    )
    .unwrap();
    assert_eq!(report.lapses.len(), 2);
    assert_eq!(report.lapses[0].extra_usd, None);
    assert_eq!(report.totals.lapse_extra_usd, None, "unknown, not zero");
}
