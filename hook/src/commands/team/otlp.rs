//! OpenTelemetry export from `tollgate sync` (never from the hook): the rows a sync pushed,
//! as OTLP/HTTP protobuf metrics with delta temporality, so a collector can sum them.
//!
//! Metrics: `tollgate.tokens` (by model and kind), `tollgate.cost` (USD, by model),
//! `tollgate.decisions` (by event and decision) and `tollgate.hook.latency` (ms, by event).
//! Best effort: a failed export is reported and not retried (the team database stays exact).

use std::ops::RangeInclusive;

use anyhow::{Result, anyhow};
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{SdkMeterProvider, Temporality};

use crate::store::{Store, team};

/// The OTLP/HTTP path of metrics, appended to an endpoint given without it.
const METRICS_PATH: &str = "/v1/metrics";

/// Local row ids a sync pushed, per table.
#[derive(Debug, Default, Clone)]
pub struct Rows {
    /// `usage` row ids.
    pub usage: Option<RangeInclusive<i64>>,
    /// `events` row ids.
    pub events: Option<RangeInclusive<i64>>,
}

/// Exports the metrics of `rows` to `endpoint`; the number of values recorded.
pub fn export(endpoint: &str, store: &Store, rows: &Rows, person: &str, team: &str) -> Result<u64> {
    let url = if endpoint.trim_end_matches('/').ends_with(METRICS_PATH) {
        endpoint.to_owned()
    } else {
        format!("{}{METRICS_PATH}", endpoint.trim_end_matches('/'))
    };
    let exporter = MetricExporter::builder()
        .with_http()
        .with_endpoint(&url)
        .with_temporality(Temporality::Delta)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| anyhow!("cannot set up the OTLP exporter for {url}: {e}"))?;
    let resource = Resource::builder()
        .with_service_name("tollgate")
        .with_attributes([
            KeyValue::new("tollgate.person", person.to_owned()),
            KeyValue::new("tollgate.team", team.to_owned()),
        ])
        .build();
    let provider = SdkMeterProvider::builder()
        .with_periodic_exporter(exporter)
        .with_resource(resource)
        .build();
    let recorded = record(&provider, store, rows);
    let shutdown = provider.shutdown();
    let recorded = recorded?;
    shutdown.map_err(|e| {
        anyhow!("OTLP export to {url} failed: {e}. Check the collector; the next sync exports only its own rows")
    })?;
    Ok(recorded)
}

/// Records the pushed rows' figures on `provider`'s instruments.
fn record(provider: &SdkMeterProvider, store: &Store, pushed: &Rows) -> Result<u64> {
    let meter = provider.meter("tollgate");
    let tokens = meter
        .u64_counter("tollgate.tokens")
        .with_unit("{token}")
        .build();
    let cost = meter.f64_counter("tollgate.cost").with_unit("USD").build();
    let decisions = meter.u64_counter("tollgate.decisions").build();
    let latency = meter
        .f64_histogram("tollgate.hook.latency")
        .with_unit("ms")
        .build();
    let conn = store.conn();
    let mut recorded = 0;
    if let Some(ids) = &pushed.usage {
        for usage in team::usage_by_model(conn, ids).map_err(|e| store.error(e))? {
            let kinds = ["input", "output", "cache_write", "cache_read"];
            for (kind, n) in kinds.into_iter().zip(usage.tokens) {
                let attributes = [
                    KeyValue::new("model", usage.model.clone()),
                    KeyValue::new("kind", kind),
                ];
                tokens.add(n, &attributes);
                recorded += 1;
            }
            if let Some(usd) = usage.cost_usd {
                cost.add(usd, &[KeyValue::new("model", usage.model)]);
                recorded += 1;
            }
        }
    }
    if let Some(ids) = &pushed.events {
        for (event, decision, latency_us) in
            team::answered_events(conn, ids).map_err(|e| store.error(e))?
        {
            let event = KeyValue::new("event", event);
            decisions.add(1, &[event.clone(), KeyValue::new("decision", decision)]);
            if let Some(us) = latency_us {
                latency.record(us as f64 / 1000.0, &[event]);
            }
            recorded += 1;
        }
    }
    Ok(recorded)
}
