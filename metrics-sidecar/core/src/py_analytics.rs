//! The Python face of the analytics' write side and read model:
//! `_core.Analytics`. `absorb` takes a batch of applied events in one call (the
//! engine's inbox); readers get flat float64 `bytes` that numpy wraps without a
//! further copy (`np.frombuffer`), copied under the caller's lock in one call. A
//! panic inside is raised as `RuntimeError`, never pyo3's `PanicException`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyType};

use crate::analytics::{self, Config};

fn guard<T>(work: impl FnOnce() -> T) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work))
        .map_err(|_| PyRuntimeError::new_err("internal error in the core's analytics"))
}

/// `values` as native-endian bytes (what `np.frombuffer` reads), 8 a value.
fn packed<'py, T: Copy>(
    py: Python<'py>,
    values: &[T],
    bytes: fn(T) -> [u8; 8],
) -> PyResult<Bound<'py, PyBytes>> {
    PyBytes::new_with(py, values.len() * 8, |buf| {
        for (out, &x) in buf.chunks_exact_mut(8).zip(values) {
            out.copy_from_slice(&bytes(x));
        }
        Ok(())
    })
}

fn floats<'py>(py: Python<'py>, values: &[f64]) -> PyResult<Bound<'py, PyBytes>> {
    packed(py, values, f64::to_ne_bytes)
}

fn ints<'py>(py: Python<'py>, values: &[i64]) -> PyResult<Bound<'py, PyBytes>> {
    packed(py, values, i64::to_ne_bytes)
}

type SeriesView<'py> = (
    f64,
    f64,
    f64,
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    (f64, f64, f64),
);
type PositionView = (f64, f64, f64, u64);

#[pyclass(module = "metrics_sidecar._core")]
pub struct Analytics {
    inner: analytics::Analytics,
    trade: Py<PyType>,
    tick: Py<PyType>,
    names: Vec<Py<PyString>>, // the symbols' names as str, by index (made once)
}

impl Analytics {
    /// The symbol's index if it gets analytics: known already, or in `admitted`
    /// (the state's symbol table: past SIDECAR_MAX_SYMBOLS a symbol is not in it).
    fn slot(
        &mut self,
        symbol: &Bound<'_, PyString>,
        admitted: &Bound<'_, PyAny>,
    ) -> PyResult<Option<usize>> {
        let name = symbol.to_str()?;
        if let Some(i) = self.inner.index_of(name) {
            return Ok(Some(i));
        }
        if !admitted.contains(symbol)? {
            return Ok(None);
        }
        guard(|| Some(self.inner.admit(name)))
    }

    fn names<'py>(&mut self, py: Python<'py>, indices: &[usize]) -> Bound<'py, PyList> {
        for i in self.names.len()..self.inner.len() {
            self.names
                .push(PyString::new(py, self.inner.name(i)).unbind());
        }
        PyList::new(py, indices.iter().map(|&i| self.names[i].bind(py))).expect("a list of str")
    }
}

/// Fed by the core's batch ingest (py_ingest.rs): applied trades and ticks as
/// Rust values, no event object. `admitted`: the state's symbol table holds the
/// name (the same admission `absorb` reads from its `admitted` container).
impl Analytics {
    fn slot_of(&mut self, name: &str, admitted: impl FnOnce(&str) -> bool) -> Option<usize> {
        match self.inner.index_of(name) {
            Some(i) => Some(i),
            None if admitted(name) => Some(self.inner.admit(name)),
            None => None,
        }
    }

    pub(crate) fn feed_trade(
        &mut self,
        symbol: Option<&str>,
        admitted: impl FnOnce(&str) -> bool,
        buy: bool,
        qty: f64,
        price: Option<f64>,
        recv: f64,
    ) {
        let slot = symbol.and_then(|name| self.slot_of(name, admitted));
        self.inner.trade_at(slot, buy, qty, price, recv);
    }

    /// True: the tick moved the analytics (admitted and in order).
    pub(crate) fn feed_tick(
        &mut self,
        symbol: &str,
        admitted: impl FnOnce(&str) -> bool,
        ts: f64,
        price: f64,
        volume: f64,
    ) -> bool {
        match self.slot_of(symbol, admitted) {
            Some(i) => self.inner.tick_at(i, ts, price, volume),
            None => false, // over SIDECAR_MAX_SYMBOLS: no analytics
        }
    }
}

#[pymethods]
impl Analytics {
    #[new]
    #[pyo3(signature = (*, span, history, bars, half_life, trade, tick))]
    fn new(
        span: u32,
        history: usize,
        bars: usize,
        half_life: f64,
        trade: Bound<'_, PyType>,
        tick: Bound<'_, PyType>,
    ) -> PyResult<Self> {
        if !(half_life > 0.0 && half_life.is_finite()) || span == 0 || history == 0 || bars == 0 {
            return Err(PyValueError::new_err(
                "span, history, bars and half_life must be > 0",
            ));
        }
        Ok(Analytics {
            inner: analytics::Analytics::new(Config {
                span,
                history,
                bars,
                half_life,
            }),
            trade: trade.unbind(),
            tick: tick.unbind(),
            names: Vec::new(),
        })
    }

    /// Takes in applied trades and ticks (the classes given at construction), in
    /// order; other objects are skipped. With `publish`, returns the events the
    /// stream gets: every trade, and the ticks that moved the analytics.
    #[pyo3(signature = (events, admitted, publish=false))]
    fn absorb(
        &mut self,
        py: Python<'_>,
        events: &Bound<'_, PyList>,
        admitted: &Bound<'_, PyAny>,
        publish: bool,
    ) -> PyResult<Option<Vec<PyObject>>> {
        let mut out = publish.then(Vec::new);
        for event in events.iter() {
            let kind = event.get_type();
            if kind.is(&self.trade) {
                let buy = event
                    .getattr(intern!(py, "side"))?
                    .downcast::<PyString>()?
                    .to_str()?
                    == "buy";
                let qty: f64 = event.getattr(intern!(py, "qty"))?.extract()?;
                let price: Option<f64> = event.getattr(intern!(py, "price"))?.extract()?;
                let recv: f64 = event.getattr(intern!(py, "recv_ts"))?.extract()?;
                let symbol = event.getattr(intern!(py, "symbol"))?;
                let symbol = if symbol.is_none() {
                    None
                } else {
                    Some(symbol.downcast_into::<PyString>()?)
                };
                let slot = match &symbol {
                    Some(s) => self.slot(s, admitted)?,
                    None => None,
                };
                guard(|| self.inner.trade_at(slot, buy, qty, price, recv))?;
                if let Some(out) = out.as_mut() {
                    out.push(event.unbind());
                }
            } else if kind.is(&self.tick) {
                let symbol = event
                    .getattr(intern!(py, "symbol"))?
                    .downcast_into::<PyString>()?;
                let Some(slot) = self.slot(&symbol, admitted)? else {
                    continue; // over SIDECAR_MAX_SYMBOLS: no analytics
                };
                let ts: f64 = event.getattr(intern!(py, "ts_s"))?.extract()?;
                let price: f64 = event.getattr(intern!(py, "price"))?.extract()?;
                let volume: f64 = event.getattr(intern!(py, "volume"))?.extract()?;
                if guard(|| self.inner.tick_at(slot, ts, price, volume))? {
                    if let Some(out) = out.as_mut() {
                        out.push(event.unbind());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Every symbol with a tick or a trade, sorted.
    fn symbols<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let sorted = guard(|| self.inner.sorted().to_vec())?;
        Ok(self.names(py, &sorted))
    }

    /// One side's window: (buckets as float64 bytes, rows of 6; last trade time;
    /// EW volume; EW time).
    fn side<'py>(
        &self,
        py: Python<'py>,
        buy: bool,
    ) -> PyResult<(Bound<'py, PyBytes>, f64, f64, f64)> {
        let window = self.inner.side(buy);
        Ok((
            floats(py, &window.slots)?,
            window.last_t,
            window.ew,
            window.ew_t,
        ))
    }

    /// One symbol: (series or None, position or None); None: unknown. Series:
    /// (last price, last tick time, first tick time, the newest `recent` prices,
    /// the window rows, (session day, volume, turnover)); position: (qty,
    /// avg_cost, realized, unpriced trades).
    fn symbol<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        recent: usize,
    ) -> PyResult<Option<(Option<SeriesView<'py>>, Option<PositionView>)>> {
        let Some(symbol) = self.inner.symbol(name) else {
            return Ok(None);
        };
        let series = match &symbol.series {
            Some(s) => {
                let (mut prices, mut rows) = (Vec::new(), Vec::new());
                guard(|| {
                    s.recent_prices_into(recent, &mut prices);
                    s.window_rows_into(&mut rows);
                })?;
                let [day, volume, turnover] = s.session_totals();
                Some((
                    s.last_price,
                    s.last_ts,
                    s.first_ts,
                    floats(py, &prices)?,
                    floats(py, &rows)?,
                    (day, volume, turnover),
                ))
            }
            None => None,
        };
        let position = symbol
            .position
            .map(|p| (p.qty, p.avg_cost, p.realized, p.unpriced));
        Ok(Some((series, position)))
    }

    /// The newest `limit` ticks (ts, price, volume) as float64 bytes; None: no tick.
    fn history<'py>(
        &self,
        py: Python<'py>,
        name: &str,
        limit: usize,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        match guard(|| self.inner.history(name, limit))? {
            Some(rows) => Ok(Some(floats(py, &rows)?)),
            None => Ok(None),
        }
    }

    /// The newest `limit` bars of the timeframe `span` seconds (rows of start,
    /// open, high, low, close, volume, ticks, turnover); None: no tick.
    fn bars(&self, name: &str, span: f64, limit: usize) -> PyResult<Option<Vec<Vec<f64>>>> {
        let bars = guard(|| self.inner.bars(name, span, limit))?;
        Ok(bars.map(|bars| bars.iter().map(|b| b.to_vec()).collect()))
    }

    /// Every symbol's inputs of the scrape's statistics in one call: (ticked
    /// symbols, their scalars [6 each], window rows [10 each], row counts (int64),
    /// the newest `recent` prices, price counts (int64), symbols with a position,
    /// their (qty, avg_cost, realized, mark) [4 each]); floats as float64 bytes.
    #[allow(clippy::type_complexity)]
    fn columns<'py>(
        &mut self,
        py: Python<'py>,
        recent: usize,
    ) -> PyResult<(
        Bound<'py, PyList>,
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        Bound<'py, PyBytes>,
        Bound<'py, PyList>,
        Bound<'py, PyBytes>,
    )> {
        let c = guard(|| self.inner.columns(recent))?;
        Ok((
            self.names(py, &c.ticked),
            floats(py, &c.scalars)?,
            floats(py, &c.rows)?,
            ints(py, &c.row_counts)?,
            floats(py, &c.prices)?,
            ints(py, &c.price_counts)?,
            self.names(py, &c.held),
            floats(py, &c.positions)?,
        ))
    }
}
