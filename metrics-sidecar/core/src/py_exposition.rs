//! The Python face of `exposition_columns`: `_core.write_column(name, labels,
//! values)`, one call per family. Label values are borrowed from the Python
//! strings (no copy); values come from a list or a float64 buffer (numpy).

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

use crate::exposition_columns::{write_column as write, LabelColumn, LengthMismatch};

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
    let mut out = String::new();
    match catch_unwind(AssertUnwindSafe(|| {
        write(&mut out, name, &mut columns, &values)
    })) {
        Ok(Ok(())) => Ok(PyBytes::new(py, out.as_bytes())),
        Ok(Err(LengthMismatch {
            label,
            labels,
            values,
        })) => Err(PyValueError::new_err(format!(
            "{name}: label {label} has {labels} values for {values} samples"
        ))),
        Err(_) => Err(PyRuntimeError::new_err(
            "internal error in the core's exposition writer",
        )),
    }
}
