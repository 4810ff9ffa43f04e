use serde_json::json;

use super::*;
use crate::store::Store;
use crate::store::ingest::{Entry, store_entry};

const NOW: i64 = 1_796_672_300_000;

/// The real transcripts of Claude Code 2.1.328 (tests/fixtures/claude-code).
fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/claude-code/transcripts")
            .join(name),
    )
    .unwrap()
}

fn lines_of(name: &str) -> Vec<SessionLine> {
    fixture(name)
        .lines()
        .filter_map(|l| parse(l.as_bytes()))
        .collect()
}

#[test]
fn reads_the_real_cost_state_lines() {
    let lines = lines_of("c996af0b-4118-445f-a185-21f1ca20f0ef.jsonl");
    let [SessionLine::CostState(state)] = lines.as_slice() else {
        panic!("one cost-state line: {lines:?}");
    };
    assert_eq!(state.problem, None);
    assert!(!state.unknown_price);
    assert_eq!(state.lines, Some(Lines::default()), "it edited no file");
    let models: Vec<&str> = state.models.iter().map(|m| m.model.as_str()).collect();
    assert_eq!(models, ["claude-haiku-5-5", "claude-opus-5-5"]);
    let opus = &state.models[1];
    assert_eq!(
        opus.tokens,
        Tokens {
            input: 7950,
            output: 1130,
            cache_write_5m: 10_900,
            cache_write_1h: 12_000,
            cache_read: 18_000,
        }
    );
    assert!((opus.cost_usd - 0.2085).abs() < 1e-12);
    // tollgate's price of Claude Code's own counts is Claude Code's figure.
    let pricing = Pricing::bundled();
    for model in &state.models {
        let ours = pricing.cost(&model.model, &model.tokens).unwrap();
        assert!((ours - model.cost_usd).abs() < 1e-12, "{}", model.model);
    }
}

#[test]
fn reads_compactions_and_limit_hits() {
    let lines = lines_of("3ec72584-8998-4b29-9c41-9b58aeac8f01.jsonl");
    let compactions: Vec<&Compaction> = lines
        .iter()
        .filter_map(|l| match l {
            SessionLine::Compaction(c) => Some(c),
            _ => None,
        })
        .collect();
    assert_eq!(compactions.len(), 1);
    let c = compactions[0];
    assert_eq!(
        (c.trigger.as_deref(), c.pre_tokens, c.post_tokens),
        (Some("manual"), Some(18_510), Some(2_614))
    );
    let costs = lines
        .iter()
        .filter(|l| matches!(l, SessionLine::CostState(_)))
        .count();
    assert_eq!(costs, 3, "one per turn");

    let lines = lines_of("b5d50d46-4ff0-4769-a941-5c103267ebe9.jsonl");
    let [SessionLine::LimitHit(hit), SessionLine::CostState(cost)] = lines.as_slice() else {
        panic!("{lines:?}");
    };
    assert!(cost.models.is_empty(), "the refused request cost nothing");
    assert_eq!(hit.kind, "rate_limit");
    assert!(hit.detail.as_deref().unwrap().contains("429"), "{hit:?}");
}

#[test]
fn other_lines_are_not_session_lines() {
    for line in fixture("c996af0b-4118-445f-a185-21f1ca20f0ef.jsonl").lines() {
        if !line.contains("\"cost-state\"") {
            assert_eq!(parse(line.as_bytes()), None, "{line}");
        }
    }
    // Mentioned in a prompt is not the line itself.
    let prompt = json!({"type": "user", "message": {"content": "what is a cost-state line?"}});
    assert_eq!(parse(prompt.to_string().as_bytes()), None);
    assert_eq!(parse(b"cost-state {"), None);
}

fn cost_line(models: serde_json::Value) -> serde_json::Value {
    json!({"type": "cost-state", "sessionId": "s1", "totalCostUSD": 1.0,
           "modelUsage": models, "hasUnknownModelCost": false})
}

fn problem(line: serde_json::Value) -> Option<String> {
    match parse(line.to_string().as_bytes()) {
        Some(SessionLine::CostState(state)) => state.problem,
        other => panic!("{other:?}"),
    }
}

#[test]
fn nonsense_figures_make_the_line_unusable() {
    let model = |figures| cost_line(json!({ "claude-x": figures }));
    assert_eq!(
        problem(model(
            json!({"inputTokens": 10, "outputTokens": 1, "costUSD": 0.5})
        )),
        None
    );
    for (figures, why) in [
        (
            json!({"inputTokens": -3, "costUSD": 0.1}),
            "inputTokens is -3",
        ),
        (
            json!({"inputTokens": 1.5, "costUSD": 0.1}),
            "inputTokens is 1.5",
        ),
        (json!({"inputTokens": 10, "costUSD": -1}), "costUSD is -1"),
        (
            json!({"inputTokens": 10, "costUSD": "1"}),
            "costUSD is \"1\"",
        ),
        (json!({"inputTokens": 10}), "costUSD is missing"),
        (json!({"inputTokens": 0, "costUSD": 2.0}), "for no tokens"),
        (
            json!({"inputTokens": 1e20, "costUSD": 2.0}),
            "inputTokens is",
        ),
    ] {
        let why_not = problem(model(figures.clone())).unwrap_or_default();
        assert!(why_not.contains(why), "{figures}: {why_not}");
    }
    let mut line = cost_line(json!({}));
    line["totalCostUSD"] = json!(1e12);
    assert!(problem(line).unwrap().contains("totalCostUSD"));
    assert!(
        problem(json!({"type": "cost-state", "totalCostUSD": 1}))
            .unwrap()
            .contains("modelUsage")
    );
}

/// A store with `entries`, and a way to record lines of session `s1`.
struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    pricing: Pricing,
}

impl Fixture {
    fn new(entries: &[Entry]) -> Self {
        let (dir, store) = crate::store::usage::tests::store_with(entries);
        Fixture {
            _dir: dir,
            store,
            pricing: Pricing::bundled(),
        }
    }

    fn record(&mut self, line: serde_json::Value) -> Vec<String> {
        let line = parse(line.to_string().as_bytes()).expect("a session line");
        let pricing = self.pricing.clone();
        self.store
            .write(|tx| record(tx, &pricing, &line, "s1", NOW))
            .unwrap()
    }

    fn costs(&self) -> Vec<Option<f64>> {
        self.store
            .conn()
            .prepare("SELECT cost_usd FROM usage ORDER BY ts_ms")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }
}

fn response(id: &str, minute: i64, model: &str, output: u64) -> Entry {
    crate::store::usage::tests::entry(id, NOW - 3_600_000 + minute * 60_000, "s1", model, output)
}

fn figures(input: u64, output: u64, write: u64, read: u64, cost: f64) -> serde_json::Value {
    json!({"inputTokens": input, "outputTokens": output, "cacheCreationInputTokens": write,
           "cacheReadInputTokens": read, "costUSD": cost})
}

#[test]
fn a_model_without_a_price_is_priced_from_claude_code() {
    // Two responses of a model tollgate has no price for (10 in, 100 written, 1000 read each).
    let mut f = Fixture::new(&[
        response("a", 0, "claude-next-1", 10),
        response("b", 5, "claude-next-1", 30),
        response("c", 6, "claude-opus-5-5", 1),
    ]);
    assert_eq!(f.costs()[..2], [None, None]);
    let notes = f.record(cost_line(json!({
        "claude-next-1": figures(20, 40, 200, 2000, 0.9),
        "claude-opus-5-5": figures(10, 1, 100, 1000, 0.000_76),
    })));
    assert_eq!(notes, Vec::<String>::new());
    let costs = f.costs();
    let (a, b) = (costs[0].unwrap(), costs[1].unwrap());
    assert!(
        (a + b - 0.9).abs() < 1e-12,
        "all of Claude Code's cost: {a} + {b}"
    );
    // Weighted by tokens: output counts 5 times an input token.
    let weight = |output: f64| 10.0 + 5.0 * output + 1.25 * 100.0 + 0.1 * 1000.0;
    assert!((a / b - weight(10.0) / weight(30.0)).abs() < 1e-9);
    assert_eq!(crate::store::rollup_mismatches(f.store.conn()).unwrap(), 0);
    let usage = crate::store::usage::snapshot(
        f.store.conn(),
        &crate::time::Calendar::default(),
        "s1",
        "/p",
        NOW,
    )
    .unwrap();
    assert_eq!(usage.session.unpriced_tokens, 0);
    assert_eq!(usage.session.unpriced_messages, 0);
    assert!(usage.session.cost_usd > 0.9);

    // A later response and a later line: only what Claude Code adds goes on it.
    f.store
        .write(|tx| store_entry(tx, &f.pricing, &response("d", 20, "claude-next-1", 10)).map(drop))
        .unwrap();
    f.record(cost_line(
        json!({"claude-next-1": figures(30, 50, 300, 3000, 1.2)}),
    ));
    let costs = f.costs();
    assert!(
        (costs[0].unwrap() - a).abs() < 1e-12,
        "earlier responses keep their cost"
    );
    let d = costs[3].unwrap();
    assert!((d - 0.3).abs() < 1e-12, "{d}");
    assert_eq!(crate::store::rollup_mismatches(f.store.conn()).unwrap(), 0);
    let session = session_cost(f.store.conn(), "s1").unwrap().unwrap();
    assert!((session.cost_usd - (1.2 + 0.000_76)).abs() < 1e-12);
}

#[test]
fn a_price_claude_code_assumed_is_not_used() {
    let mut f = Fixture::new(&[response("a", 0, "claude-next-1", 10)]);
    let mut line = cost_line(json!({"claude-next-1": figures(10, 10, 100, 1000, 0.5)}));
    line["hasUnknownModelCost"] = json!(true);
    assert!(f.record(line).is_empty());
    assert_eq!(f.costs(), [None], "still unknown");
    let session = session_cost(f.store.conn(), "s1").unwrap().unwrap();
    assert!(session.unknown_price);
}

#[test]
fn a_line_that_goes_down_is_noted_once_and_lowers_nothing() {
    let mut f = Fixture::new(&[response("a", 0, "claude-next-1", 10)]);
    f.record(cost_line(
        json!({"claude-next-1": figures(10, 10, 100, 1000, 0.5)}),
    ));
    let lower = cost_line(json!({"claude-next-1": figures(10, 10, 100, 1000, 0.2)}));
    let notes = f.record(lower.clone());
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains("went down for claude-next-1"),
        "{}",
        notes[0]
    );
    assert_eq!(f.record(lower), Vec::<String>::new(), "noted once");
    assert_eq!(f.costs(), [Some(0.5)]);
    let session = session_cost(f.store.conn(), "s1").unwrap().unwrap();
    assert_eq!(session.cost_usd, 0.5);
    let noted = notes_since(f.store.conn(), 0).unwrap();
    assert_eq!(noted.len(), 1);
}

#[test]
fn a_line_counting_less_than_the_transcript_is_not_used() {
    // The transcript's responses before the line hold 20 output tokens; the line says 5.
    let mut f = Fixture::new(&[
        response("a", 0, "claude-next-1", 10),
        response("b", 1, "claude-next-1", 10),
    ]);
    let notes = f.record(cost_line(
        json!({"claude-next-1": figures(20, 5, 200, 2000, 0.5)}),
    ));
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("fewer output tokens of claude-next-1"),
        "{}",
        notes[0]
    );
    assert_eq!(f.costs(), [None, None]);
    assert_eq!(session_cost(f.store.conn(), "s1").unwrap(), None);
    // More than the transcript shows is fine: requests it does not record (a compaction).
    assert!(
        f.record(cost_line(
            json!({"claude-next-1": figures(900, 90, 200, 2000, 0.5)})
        ))
        .is_empty()
    );
    assert!(f.costs().iter().all(Option::is_some));
}

/// The lines a session's edits changed are kept from its latest line, even when its cost
/// figures are unusable.
#[test]
fn the_lines_claude_code_counted_are_kept() {
    let mut fixture = Fixture::new(&[]);
    let mut line = cost_line(json!({}));
    line["totalLinesAdded"] = json!(12);
    line["totalLinesRemoved"] = json!(3);
    fixture.record(line.clone());
    line["totalLinesAdded"] = json!(20);
    line["totalCostUSD"] = json!(-1);
    fixture.record(line);
    let facts = crate::store::outcomes::session_facts(fixture.store.conn(), ["s1"]).unwrap();
    assert_eq!(
        facts["s1"].claude_code_lines,
        Some(Lines {
            added: 20,
            removed: 3
        })
    );
    let mut without = cost_line(json!({}));
    without["totalLinesAdded"] = json!(-4);
    let Some(SessionLine::CostState(state)) = parse(without.to_string().as_bytes()) else {
        panic!("a cost line");
    };
    assert_eq!(state.lines, None);
}

#[test]
fn an_unusable_line_is_noted_once() {
    let mut f = Fixture::new(&[]);
    let bad = cost_line(json!({"claude-x": {"inputTokens": "many", "costUSD": 1}}));
    let notes = f.record(bad.clone());
    assert_eq!(notes.len(), 1);
    assert!(
        notes[0].contains("unusable: claude-x: inputTokens"),
        "{}",
        notes[0]
    );
    assert!(f.record(bad).is_empty());
}

#[test]
fn a_compaction_sets_the_context_until_the_next_response() {
    let mut f = Fixture::new(&[response("a", 0, "claude-opus-5-5", 10)]);
    f.store
        .write(|tx| {
            tx.execute(
                "INSERT INTO sessions (session_id, model, context_tokens, context_ts)
                 VALUES ('s1', 'claude-opus-5-5', 180000, ?1)",
                [NOW - 3_600_000],
            )
        })
        .unwrap();
    let boundary = json!({"type": "system", "subtype": "compact_boundary", "sessionId": "s1",
        "timestamp": "2026-12-07T19:50:00Z",
        "compactMetadata": {"trigger": "auto", "preTokens": 180000, "postTokens": 4200}});
    f.record(boundary);
    let context: i64 = f
        .store
        .conn()
        .query_row("SELECT context_tokens FROM sessions", [], |r| r.get(0))
        .unwrap();
    assert_eq!(context, 4200);
}

#[test]
fn a_limit_hit_is_kept_once() {
    let mut f = Fixture::new(&[]);
    f.store
        .write(|tx| {
            record_limit_hit(tx, "s1", NOW, "rate_limit", Some("429"))?;
            record_limit_hit(tx, "s1", NOW + 20_000, "rate_limit", None)?;
            record_limit_hit(tx, "s1", NOW + 20_000, "billing_error", None)?;
            record_limit_hit(tx, "s1", NOW + 3_600_000, "rate_limit", None)
        })
        .unwrap();
    let hits: i64 = f
        .store
        .conn()
        .query_row("SELECT count(*) FROM limit_hits", [], |r| r.get(0))
        .unwrap();
    assert_eq!(hits, 3);
}

mod fuzz {
    use proptest::prelude::*;

    use super::super::{SessionLine, parse};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes: a session line or nothing, never a panic.
        #[test]
        fn any_line(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        /// Cost lines with any figures, of any JSON type: read, or unusable with a reason.
        #[test]
        fn cost_lines(input in prop_oneof![any::<i64>().prop_map(serde_json::Value::from),
                                           any::<f64>().prop_map(serde_json::Value::from),
                                           ".{0,8}".prop_map(serde_json::Value::from)],
                      cost in any::<f64>(), unknown in any::<bool>()) {
            let line = serde_json::json!({"type": "cost-state", "totalCostUSD": 1.0,
                "hasUnknownModelCost": unknown,
                "modelUsage": {"m": {"inputTokens": input, "outputTokens": 3, "costUSD": cost}}});
            let Some(SessionLine::CostState(state)) = parse(line.to_string().as_bytes()) else {
                panic!("a cost line");
            };
            match state.problem {
                None => {
                    let m = &state.models[0];
                    prop_assert!(m.cost_usd.is_finite() && m.cost_usd >= 0.0);
                    prop_assert_eq!(serde_json::Value::from(m.tokens.input), input);
                }
                Some(why) => prop_assert!(!why.is_empty()),
            }
        }
    }
}
