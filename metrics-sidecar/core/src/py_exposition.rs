//! The Python face of `exposition_columns`: `_core.TextBuffer`, the one buffer a
//! scrape's body is written into (`textformat.Writer`), with one call per family:
//! `series` from columns (label values borrowed from the Python strings, values
//! from a list or a float64 buffer), `table` from `_core.StateTables` (the
//! state's trade and symbol tables, copied in one call under the state lock and
//! written with the GIL released); `write_column` gives one family as bytes.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::exposition_columns::{
    write_column as write, LabelColumn, LengthMismatch, StateTables as Tables, TableColumn,
};
use crate::py_state::StateCore;

enum Owned<'py> {
    One(Bound<'py, PyString>),
    Each(Vec<Bound<'py, PyString>>),
}

/// The series of one family: `labels` is `[(label name, str or list of str)]`
/// (a str: the same value on every series), `values` a list of numbers or a
/// float64 buffer. Labels are written in name order, escaped. Bytes (UTF-8):
/// the body is sent as bytes, so no str is built only to be encoded again.
#[pyfunction]
pub fn write_column<'py>(
    py: Python<'py>,
    name: &str,
    labels: Vec<(String, Bound<'py, PyAny>)>,
    values: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut out = String::new();
    write_series(py, &mut out, name, labels, values)?;
    Ok(PyBytes::new(py, out.as_bytes()))
}

/// `write_column`'s series appended to `out` (nothing appended on an error).
fn write_series<'py>(
    py: Python<'py>,
    out: &mut String,
    name: &str,
    labels: Vec<(String, Bound<'py, PyAny>)>,
    values: &Bound<'py, PyAny>,
) -> PyResult<()> {
    let values: Vec<f64> = match PyBuffer::<f64>::get(values) {
        Ok(buffer) => buffer.to_vec(py)?,
        Err(_) => values.extract()?,
    };
    let owned = labels
        .into_iter()
        .map(|(label, column)| {
            Ok(match column.downcast::<PyString>() {
                Ok(one) => (label, Owned::One(one.clone())),
                Err(_) => (label, Owned::Each(column.extract()?)),
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let mut columns = owned
        .iter()
        .map(|(label, column)| {
            Ok((
                label.as_str(),
                match column {
                    Owned::One(one) => LabelColumn::One(one.to_str()?),
                    Owned::Each(each) => LabelColumn::Each(
                        each.iter()
                            .map(|value| value.to_str())
                            .collect::<PyResult<_>>()?,
                    ),
                },
            ))
        })
        .collect::<PyResult<Vec<_>>>()?;
    match catch_unwind(AssertUnwindSafe(|| write(out, name, &mut columns, &values))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(LengthMismatch {
            label,
            labels,
            values,
        })) => Err(PyValueError::new_err(format!(
            "{name}: label {label} has {labels} values for {values} samples"
        ))),
        Err(_) => Err(internal_error()),
    }
}

fn internal_error() -> PyErr {
    PyRuntimeError::new_err("internal error in the core's exposition writer")
}

/// The state's trade and symbol tables at one instant: `StateTables(core)` is
/// one copy (taken under `state.lock`, by read_model.py), written later by
/// `TextBuffer.table` without the lock.
#[pyclass(module = "metrics_sidecar._core", frozen)]
pub struct StateTables {
    tables: Tables,
}

#[pymethods]
impl StateTables {
    #[new]
    fn new(core: PyRef<'_, StateCore>) -> PyResult<Self> {
        catch_unwind(AssertUnwindSafe(|| Tables::copy(&core.aggregates)))
            .map(|tables| StateTables { tables })
            .map_err(|_| internal_error())
    }

    /// Trade series and symbols copied.
    fn __len__(&self) -> usize {
        self.tables.trades.len() + self.tables.symbols.len()
    }
}

/// The most `TextBuffer(capacity)` reserves up front (a bad hint cannot take memory).
const MAX_RESERVE: usize = 64 << 20;

/// One scrape's body, written into one buffer (UTF-8), one call per family.
#[pyclass(module = "metrics_sidecar._core")]
pub struct TextBuffer {
    out: String,
}

#[pymethods]
impl TextBuffer {
    /// `capacity`: the bytes to reserve (a scrape passes the previous body's size,
    /// so the buffer is allocated once, not grown and copied ~20 times).
    #[new]
    #[pyo3(signature = (capacity = 0))]
    fn new(capacity: usize) -> Self {
        TextBuffer {
            out: String::with_capacity(capacity.min(MAX_RESERVE)),
        }
    }

    /// Text already in the format (a HELP/TYPE pair, a sample, the hop families):
    /// a str, or UTF-8 bytes (prometheus_client's output).
    fn raw(&mut self, text: &Bound<'_, PyAny>) -> PyResult<()> {
        match text.downcast::<PyBytes>() {
            Ok(bytes) => {
                let text = std::str::from_utf8(bytes.as_bytes())
                    .map_err(|e| PyValueError::new_err(format!("not UTF-8: {e}")))?;
                self.out.push_str(text);
            }
            Err(_) => self.out.push_str(text.downcast::<PyString>()?.to_str()?),
        }
        Ok(())
    }

    /// `write_column`'s series, appended.
    fn series<'py>(
        &mut self,
        py: Python<'py>,
        name: &str,
        labels: Vec<(String, Bound<'py, PyAny>)>,
        values: &Bound<'py, PyAny>,
    ) -> PyResult<()> {
        write_series(py, &mut self.out, name, labels, values)
    }

    /// The series of one column of `tables` ("trade_count", "trade_volume",
    /// "source_ticks", "last_price", "last_ts", "spikes", "out_of_order") named
    /// `name`; written with the GIL released (the ingest thread runs meanwhile).
    fn table(
        &mut self,
        py: Python<'_>,
        tables: &StateTables,
        column: &str,
        name: &str,
    ) -> PyResult<()> {
        let column = TableColumn::named(column)
            .ok_or_else(|| PyValueError::new_err(format!("no such table column: {column:?}")))?;
        let out = &mut self.out;
        let tables = &tables.tables;
        py.allow_threads(|| catch_unwind(AssertUnwindSafe(|| tables.write(column, name, out))))
            .map_err(|_| internal_error())
    }

    /// The body so far, as bytes (one copy).
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.out.as_bytes())
    }

    fn __len__(&self) -> usize {
        self.out.len()
    }
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_function(wrap_pyfunction!(write_column, module)?)?;
    module.add_class::<StateTables>()?;
    module.add_class::<TextBuffer>()
}
