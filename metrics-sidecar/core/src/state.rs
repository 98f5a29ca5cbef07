//! The sidecar's aggregates and the one apply of a decoded event (issue 13):
//! trades per (side, symbol), the last trade time, received per type, invalid
//! per reason, duplicates, the series overflow counts, the capped symbol table
//! with its per-symbol tick stats, and the refusals (future_timestamp, stale,
//! overflow).
//!
//! `apply` is the whole per-event write path, in this order: refusal -> dedup
//! (event id) -> producer seq tracker -> aggregates -> hop histograms -> clock
//! offset. Every refusal is decided before anything changes: a refused event
//! moves no seq, takes no event id and changes no aggregate ("never half
//! applied").

use std::collections::HashMap;

use crate::dedup::RecentIds;
use crate::hops::{HopSet, Keep, NoSuchSeries};
use crate::producers::{Tracker, OVERFLOW_LABEL};
use crate::state_clock::ClockOffsets;

/// Per symbol, at most this many `source` labels; the rest share OVERFLOW_LABEL.
pub const MAX_SOURCES: usize = 16;
pub const SIDES: [&str; 2] = ["buy", "sell"];
/// The `kind` labels of `series_overflow_total`, in the exposition's order.
pub const OVERFLOW_KINDS: [&str; 3] = ["symbol", "producer", "source"];
/// Symbols come from the wire (an attacker can make up new ones, up to the
/// cap): foldhash with a random seed per map, not a fixed-seed hasher.
type Seed = foldhash::fast::RandomState;
const TRADE: usize = 0;
const TICK: usize = 1;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_symbols: usize,
    /// A tick whose ts is older than this (before receipt) is `stale`.
    pub max_age: f64,
    /// A ts or sent_ts more than this after receipt is `future_timestamp`.
    pub max_future: f64,
    /// A tick further than this fraction from the last price is a spike.
    pub spike: f64,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SymbolTicks {
    pub last_price: f64,
    pub last_ts: f64,
    pub last_recv: f64,
    pub spikes: u64,
    pub out_of_order: u64,
    /// (source label, ticks), in first-seen order.
    pub by_source: Vec<(String, u64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TradeRow {
    pub side: usize,
    pub symbol: String,
    pub count: u64,
    pub volume: f64,
}

/// What `apply` is given: one decoded event (with its receive time) as borrowed
/// fields. `kind`: 0 trade, 1 tick, 2 heartbeat (`hops::KINDS`).
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    pub kind: usize,
    pub ts_s: f64,
    pub sent: Option<f64>,
    pub recv: f64,
    /// 0 buy, 1 sell (trades).
    pub side: usize,
    pub qty: f64,
    pub symbol: Option<&'a str>,
    pub price: f64,
    pub source: &'a str,
    pub producer: Option<&'a str>,
    pub instance: Option<&'a str>,
    pub seq: Option<i64>,
    pub event_id: Option<&'a str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    FutureTimestamp,
    Stale,
    Overflow,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::FutureTimestamp => "future_timestamp",
            Refusal::Stale => "stale",
            Refusal::Overflow => "overflow",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Refused(Refusal),
}

pub struct Aggregates {
    pub limits: Limits,
    trades: Vec<TradeRow>,
    trade_index: [HashMap<String, usize, Seed>; 2],
    pub last_trade_ts: Option<f64>,
    pub received: [u64; 3],
    reasons: Vec<String>,
    invalid: Vec<u64>,
    pub duplicates: u64,
    /// symbol, producer, source (`OVERFLOW_KINDS`).
    pub overflow: [u64; 3],
    symbols: Vec<(String, SymbolTicks)>,
    symbol_index: HashMap<String, usize, Seed>,
}

impl Aggregates {
    /// `reasons`: every `reason` label (`reasons.ALL_REASONS`), in order.
    pub fn new(limits: Limits, reasons: Vec<String>) -> Self {
        let invalid = vec![0; reasons.len()];
        Aggregates {
            limits,
            trades: Vec::new(),
            trade_index: Default::default(),
            last_trade_ts: None,
            received: [0; 3],
            reasons,
            invalid,
            duplicates: 0,
            overflow: [0; 3],
            symbols: Vec::new(),
            symbol_index: HashMap::default(),
        }
    }

    // -- invalid -----------------------------------------------------------
    pub fn reason_index(&self, reason: &str) -> Option<usize> {
        self.reasons.iter().position(|r| r == reason)
    }

    /// Counts one rejection; false for a reason outside the set.
    pub fn reject(&mut self, reason: &str) -> bool {
        self.invalid_slot(reason)
            .map(|n| *n = n.saturating_add(1))
            .is_some()
    }

    /// The counter of a reason in the set.
    fn invalid_slot(&mut self, reason: &str) -> Option<&mut u64> {
        let i = self.reason_index(reason)?;
        self.invalid.get_mut(i)
    }

    pub fn invalid(&self) -> impl Iterator<Item = (&str, u64)> {
        self.reasons
            .iter()
            .map(String::as_str)
            .zip(self.invalid.iter().copied())
    }

    pub fn set_invalid(&mut self, reason: &str, value: u64) -> bool {
        self.invalid_slot(reason).map(|n| *n = value).is_some()
    }

    // -- trades --------------------------------------------------------------
    pub fn trades(&self) -> &[TradeRow] {
        &self.trades
    }

    pub fn trade(&self, side: usize, symbol: &str) -> Option<&TradeRow> {
        let i = *self.trade_index.get(side)?.get(symbol)?;
        self.trades.get(i)
    }

    /// Replaces every trade row (a snapshot being restored).
    pub fn set_trades(&mut self, rows: Vec<TradeRow>) {
        self.trades.clear();
        self.trade_index = Default::default();
        for row in rows {
            if let Some(slot) = trade_row(
                &mut self.trade_index,
                &mut self.trades,
                row.side,
                &row.symbol,
            ) {
                *slot = row;
            }
        }
    }

    // -- symbols -------------------------------------------------------------
    pub fn symbols(&self) -> &[(String, SymbolTicks)] {
        &self.symbols
    }

    pub fn symbol(&self, name: &str) -> Option<&SymbolTicks> {
        let i = *self.symbol_index.get(name)?;
        self.symbols.get(i).map(|(_, s)| s)
    }

    /// Replaces the symbol table (a snapshot being restored).
    pub fn set_symbols(&mut self, rows: Vec<(String, SymbolTicks)>) {
        self.symbols.clear();
        self.symbol_index.clear();
        for (name, ticks) in rows {
            match self.symbol_index.get(&name) {
                Some(&i) => {
                    if let Some(row) = self.symbols.get_mut(i) {
                        row.1 = ticks;
                    }
                }
                None => {
                    self.symbol_index.insert(name.clone(), self.symbols.len());
                    self.symbols.push((name, ticks));
                }
            }
        }
    }

    /// The label a symbol is counted under, without creating its series.
    fn symbol_key<'s>(&self, symbol: &'s str) -> &'s str {
        if self.symbol_index.contains_key(symbol) || self.symbols.len() < self.limits.max_symbols {
            symbol
        } else {
            OVERFLOW_LABEL
        }
    }

    /// The index of a symbol's series, made on first sight (beyond the cap: the
    /// overflow series, counted).
    fn symbol_slot(&mut self, symbol: &str) -> usize {
        if let Some(&i) = self.symbol_index.get(symbol) {
            return i;
        }
        let mut name = symbol;
        if self.symbols.len() >= self.limits.max_symbols {
            self.overflow[0] = self.overflow[0].saturating_add(1);
            name = OVERFLOW_LABEL;
            if let Some(&i) = self.symbol_index.get(name) {
                return i;
            }
        }
        self.symbol_index
            .insert(name.to_owned(), self.symbols.len());
        self.symbols.push((name.to_owned(), SymbolTicks::default()));
        self.symbols.len() - 1
    }

    // -- apply -----------------------------------------------------------------
    /// Why an event cannot be applied, or None; `hops_full`: a latency sum of
    /// its type could not take one more value (`HopSet::would_overflow`).
    pub fn refusal(&self, event: &Input, hops_full: bool) -> Option<Refusal> {
        let latest = event.recv + self.limits.max_future;
        if event.ts_s > latest || event.sent.is_some_and(|sent| sent > latest) {
            return Some(Refusal::FutureTimestamp);
        }
        if event.kind == TICK && event.ts_s < event.recv - self.limits.max_age {
            return Some(Refusal::Stale);
        }
        if event.kind == TRADE {
            let symbol = event.symbol.map_or("", |s| self.symbol_key(s));
            if let Some(row) = self.trade(event.side, symbol) {
                if row.volume + event.qty > f64::MAX {
                    return Some(Refusal::Overflow);
                }
            }
        }
        if hops_full {
            return Some(Refusal::Overflow);
        }
        None
    }

    fn apply_trade(&mut self, event: &Input) {
        let slot = event.symbol.map(|symbol| self.symbol_slot(symbol));
        let symbol = match slot {
            None => "",
            Some(i) => match self.symbols.get(i) {
                Some((name, _)) => name.as_str(),
                None => return,
            },
        };
        if let Some(row) = trade_row(&mut self.trade_index, &mut self.trades, event.side, symbol) {
            row.count = row.count.saturating_add(1);
            row.volume += event.qty;
        }
        self.last_trade_ts = Some(event.ts_s);
    }

    fn apply_tick(&mut self, event: &Input) {
        let i = self.symbol_slot(event.symbol.unwrap_or(""));
        let spike = self.limits.spike;
        let Some((_, sym)) = self.symbols.get_mut(i) else {
            return;
        };
        let mut source = event.source;
        let known = sym.by_source.iter().any(|(s, _)| s == source);
        if !known && sym.by_source.len() >= MAX_SOURCES {
            self.overflow[2] = self.overflow[2].saturating_add(1);
            source = OVERFLOW_LABEL;
        }
        match sym.by_source.iter_mut().find(|(s, _)| s == source) {
            Some((_, n)) => *n = n.saturating_add(1),
            None => sym.by_source.push((source.to_owned(), 1)),
        }
        if event.ts_s < sym.last_ts {
            sym.out_of_order = sym.out_of_order.saturating_add(1); // never rewinds the last price
            return;
        }
        let last = sym.last_price;
        if last > 0.0 && (event.price - last).abs() > spike * last {
            sym.spikes = sym.spikes.saturating_add(1);
        }
        sym.last_price = event.price;
        sym.last_ts = event.ts_s;
        sym.last_recv = event.recv;
    }
}

/// The row of (side, symbol), made on first sight (the label copied only then).
fn trade_row<'t>(
    index: &mut [HashMap<String, usize, Seed>; 2],
    trades: &'t mut Vec<TradeRow>,
    side: usize,
    symbol: &str,
) -> Option<&'t mut TradeRow> {
    let index = index.get_mut(side)?;
    let i = match index.get(symbol) {
        Some(&i) => i,
        None => {
            index.insert(symbol.to_owned(), trades.len());
            trades.push(TradeRow {
                side,
                symbol: symbol.to_owned(),
                count: 0,
                volume: 0.0,
            });
            trades.len() - 1
        }
    };
    trades.get_mut(i)
}

/// Everything one apply changes.
pub struct Parts<'p, X> {
    pub aggregates: &'p mut Aggregates,
    pub dedup: &'p mut RecentIds,
    pub producers: &'p mut Tracker,
    pub hops: &'p mut HopSet<X>,
    pub clocks: &'p mut ClockOffsets,
}

/// Applies one decoded event at `applied` (the sidecar's clock): the whole
/// per-event write path (module docs). `exemplar` is made only for an event
/// that reaches the hop histograms (what each bucket keeps of it: `hops::Keep`).
pub fn apply<X: Clone + Keep<S>, S>(
    parts: Parts<'_, X>,
    event: &Input,
    applied: f64,
    exemplar: impl FnOnce() -> S,
) -> Result<Outcome, NoSuchSeries> {
    let Parts {
        aggregates,
        dedup,
        producers,
        hops,
        clocks,
    } = parts;
    let hops_full = hops.would_overflow(event.kind)?;
    if let Some(refusal) = aggregates.refusal(event, hops_full) {
        aggregates.reject(refusal.as_str());
        return Ok(Outcome::Refused(refusal));
    }
    if let Some(id) = event.event_id {
        if dedup.seen_pair(event.producer, id) {
            aggregates.duplicates = aggregates.duplicates.saturating_add(1);
            if let Some(name) = event.producer {
                // Its seq was received: never also a gap (loss).
                producers.observe(name, event.instance, event.seq, event.recv, false);
            }
            return Ok(Outcome::Duplicate);
        }
    }
    let mut label = None;
    if let Some(name) = event.producer {
        let seen = producers.observe(name, event.instance, event.seq, event.recv, true);
        if seen.duplicate {
            aggregates.duplicates = aggregates.duplicates.saturating_add(1);
            return Ok(Outcome::Duplicate);
        }
        label = Some(seen.label);
    }
    match event.kind {
        TRADE => aggregates.apply_trade(event),
        TICK => aggregates.apply_tick(event),
        _ => {}
    }
    if let Some(n) = aggregates.received.get_mut(event.kind) {
        *n = n.saturating_add(1);
    }
    // Clock skew can make a hop negative: counted and observed as 0 (hops.rs).
    hops.observe_event(
        event.kind,
        event.ts_s,
        event.sent,
        event.recv,
        applied,
        &exemplar(),
    )?;
    if let (Some(sent), Some(label)) = (event.sent, label) {
        if let Some(name) = producers.label(label) {
            clocks.observe(name, sent, event.recv);
        }
    }
    Ok(Outcome::Applied)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
