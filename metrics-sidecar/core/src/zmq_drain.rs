//! The PULL socket's drain in the core (issue 13, B1): after the Python loop's
//! blocking receive hands over the frame that woke it, the core receives what
//! else is queued, without blocking, through the libzmq that pyzmq itself
//! loaded, and hands each frame to the batch ingest (`py_ingest::drain`) as a
//! borrowed slice: no Python object per frame.
//!
//! pyzmq keeps owning the socket (creation, options, CURVE/ZAP, the monitor,
//! close). The core only borrows its libzmq handle (`Socket.underlying`) for
//! one drain.
//!
//! # Safety invariants (kept by `metrics_sidecar/drains.py`, the one caller)
//! - [`Api`] is loaded from the path of the libzmq already mapped into the
//!   process (found in `/proc/self/maps`): `dlopen` of a loaded path returns
//!   that same library, so the functions are the ones pyzmq calls; a second
//!   libzmq is never linked or loaded.
//! - The socket handle is valid while pyzmq's socket is open; the caller
//!   checks `closed` first, and pyzmq's socket is closed only by the ingest
//!   thread, the thread that drains, after its last drain. A libzmq socket is
//!   not thread-safe: only that thread uses it (Python holds the GIL and
//!   `state.lock` across a drain).
//! - `zmq_msg_t` is 64 bytes, 8-aligned ([`RawMsg`]), initialised once per
//!   drain, on the heap (it never moves while libzmq may point into it), and
//!   closed when the drain ends, panics included ([`Drop`]).
//!
//! The drain's rules are those of the Python drain it replaces (multipart
//! parts rejected, straddling drains; `too_large`; a batch frame counts its
//! elements against the budget), written once here over two small traits, so
//! `cargo test` holds them without a socket.

use std::ffi::{c_int, c_void};
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};

use libloading::Library;

pub const MULTIPART: &str = "multipart";
pub const TOO_LARGE: &str = "too_large";
pub const INTERNAL_ERROR: &str = "internal_error";

/// `ZMQ_DONTWAIT` (zmq.h).
const DONTWAIT: c_int = 1;

/// `zmq_msg_t`: 64 opaque bytes, pointer-aligned (zmq.h).
#[repr(C, align(8))]
pub struct RawMsg([u8; 64]);

type MsgInit = unsafe extern "C" fn(*mut RawMsg) -> c_int;
type MsgRecv = unsafe extern "C" fn(*mut RawMsg, *mut c_void, c_int) -> c_int;
type MsgData = unsafe extern "C" fn(*mut RawMsg) -> *mut c_void;
type MsgSize = unsafe extern "C" fn(*const RawMsg) -> usize;
type MsgMore = unsafe extern "C" fn(*const RawMsg) -> c_int;
type MsgClose = unsafe extern "C" fn(*mut RawMsg) -> c_int;
type Errno = unsafe extern "C" fn() -> c_int;

/// The seven libzmq functions a drain calls, from one loaded library.
pub struct Api {
    init: MsgInit,
    recv: MsgRecv,
    data: MsgData,
    size: MsgSize,
    more: MsgMore,
    close: MsgClose,
    errno: Errno,
    /// Keeps the library (a reference to the one pyzmq loaded) open while the
    /// function pointers above are in use.
    _library: Library,
}

impl Api {
    /// Opens `path` (the libzmq pyzmq loaded) and looks up the drain's
    /// functions; an error names what is missing.
    ///
    /// # Safety
    /// `path` must be a libzmq (its initialisers run if it was not loaded
    /// yet): the caller passes the library found mapped in the process.
    pub unsafe fn load(path: &str) -> Result<Api, libloading::Error> {
        let library = Library::new(path)?;
        Ok(Api {
            init: *library.get::<MsgInit>(b"zmq_msg_init\0")?,
            recv: *library.get::<MsgRecv>(b"zmq_msg_recv\0")?,
            data: *library.get::<MsgData>(b"zmq_msg_data\0")?,
            size: *library.get::<MsgSize>(b"zmq_msg_size\0")?,
            more: *library.get::<MsgMore>(b"zmq_msg_more\0")?,
            close: *library.get::<MsgClose>(b"zmq_msg_close\0")?,
            errno: *library.get::<Errno>(b"zmq_errno\0")?,
            _library: library,
        })
    }
}

/// Why a receive gave no frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// EAGAIN: nothing queued; the drain is over.
    Again,
    /// EINTR: a signal; the drain ends so Python can run its handlers.
    Interrupted,
    /// Any other errno: the socket or context is gone.
    Failed(i32),
}

impl Stop {
    pub fn from_errno(errno: i32) -> Stop {
        match std::io::Error::from_raw_os_error(errno).kind() {
            ErrorKind::WouldBlock => Stop::Again,
            ErrorKind::Interrupted => Stop::Interrupted,
            _ => Stop::Failed(errno),
        }
    }
}

/// Where a drain's frames come from: the socket, or a test's queue.
pub trait Source {
    /// The next queued frame (its bytes, and whether more parts follow),
    /// valid until the next call; never blocks.
    fn recv(&mut self) -> Result<(&[u8], bool), Stop>;
}

/// Where a drain's frames go: the batch ingest.
pub trait Sink {
    /// Called once per frame as it arrives: its receive time (the system
    /// clock; the test-only apply delay is paid here).
    fn received(&mut self) -> f64;
    /// A whole frame (one message, or a batch frame): how many messages it held.
    fn frame(&mut self, data: &[u8], recv: f64) -> usize;
    /// Counts one message rejected for `reason`; `data`: the frame, for the log.
    fn reject(&mut self, reason: &'static str, data: Option<&[u8]>);
}

/// A drain's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drained {
    /// Messages taken (the budget used; a batch frame counts its elements).
    pub messages: usize,
    /// The last frame said more parts follow: the next drain's first parts
    /// belong to a multipart message.
    pub in_multipart: bool,
    /// 0, or the errno that ended the drain (neither EAGAIN nor EINTR).
    pub errno: i32,
}

/// Receives from `source` into `sink`, `first` (the frame the Python loop's
/// blocking receive took, and its more-flag) first, until the queue is empty
/// or `budget` messages were taken.
pub fn drain(
    source: &mut impl Source,
    sink: &mut impl Sink,
    first: Option<(&[u8], bool)>,
    in_multipart: bool,
    budget: usize,
    max_bytes: usize,
) -> Drained {
    let mut out = Drained {
        messages: 0,
        in_multipart,
        errno: 0,
    };
    if let Some((data, more)) = first {
        out.messages += step(sink, data, more, &mut out.in_multipart, max_bytes);
    }
    while out.messages < budget {
        match source.recv() {
            Ok((data, more)) => {
                out.messages += step(sink, data, more, &mut out.in_multipart, max_bytes);
            }
            Err(Stop::Again | Stop::Interrupted) => break,
            Err(Stop::Failed(errno)) => {
                out.errno = errno;
                break;
            }
        }
    }
    out
}

/// One received frame: the messages it counts against the budget (at least 1).
fn step(
    sink: &mut impl Sink,
    data: &[u8],
    more: bool,
    in_multipart: &mut bool,
    max_bytes: usize,
) -> usize {
    let recv = sink.received();
    if more || *in_multipart {
        // A multipart message is junk for this protocol: every part is
        // rejected, and it can straddle two drains.
        *in_multipart = more;
        sink.reject(MULTIPART, Some(data));
        return 1;
    }
    if data.len() > max_bytes {
        sink.reject(TOO_LARGE, Some(data));
        return 1;
    }
    // The batch ingest guards its own decode and apply; this catches anything
    // else, so a bug costs this frame and the drain goes on.
    match catch_unwind(AssertUnwindSafe(|| sink.frame(data, recv))) {
        Ok(count) => count.max(1),
        Err(_) => {
            sink.reject(INTERNAL_ERROR, None);
            1
        }
    }
}

/// A PULL socket's queue, read with `zmq_msg_recv(ZMQ_DONTWAIT)` into one
/// message buffer per drain.
pub struct Receiver<'a> {
    api: &'a Api,
    socket: *mut c_void,
    msg: Box<RawMsg>,
}

impl<'a> Receiver<'a> {
    /// # Safety
    /// `socket` is an open libzmq socket of `api`'s library, used by no other
    /// thread until this receiver is dropped (see the module's invariants).
    pub unsafe fn new(api: &'a Api, socket: *mut c_void) -> Receiver<'a> {
        let mut msg = Box::new(RawMsg([0; 64]));
        // zmq_msg_init cannot fail (it sets up an empty message).
        (api.init)(&mut *msg);
        Receiver { api, socket, msg }
    }
}

impl Source for Receiver<'_> {
    fn recv(&mut self) -> Result<(&[u8], bool), Stop> {
        let api = self.api;
        let msg: *mut RawMsg = &mut *self.msg;
        // SAFETY: the socket is valid and ours for the drain (Receiver::new);
        // msg was initialised, and a receive into it frees what it held.
        let rc = unsafe { (api.recv)(msg, self.socket, DONTWAIT) };
        if rc < 0 {
            // SAFETY: zmq_errno reads the calling thread's errno.
            return Err(Stop::from_errno(unsafe { (api.errno)() }));
        }
        // SAFETY: msg holds the received message: data/size describe its
        // bytes, which stay valid until the next receive or close (the slice's
        // borrow of self ends before either).
        unsafe {
            let size = (api.size)(msg);
            let data = (api.data)(msg).cast::<u8>();
            let more = (api.more)(msg) != 0;
            let bytes = if size == 0 || data.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(data, size)
            };
            Ok((bytes, more))
        }
    }
}

impl Drop for Receiver<'_> {
    fn drop(&mut self) {
        // SAFETY: msg was initialised in new; closing frees what it holds.
        unsafe {
            (self.api.close)(&mut *self.msg);
        }
    }
}

/// `_core.LibZmq`: the libzmq pyzmq loaded, opened for the drain
/// (`metrics_sidecar/libzmq.py` finds its path). OSError when the library
/// cannot be opened or lacks one of the drain's functions.
#[cfg(feature = "python")]
#[pyo3::pyclass(module = "metrics_sidecar._core", frozen)]
pub struct LibZmq {
    pub(crate) api: Api,
    #[pyo3(get)]
    path: String,
}

#[cfg(feature = "python")]
#[pyo3::pymethods]
impl LibZmq {
    #[new]
    fn new(path: String) -> pyo3::PyResult<Self> {
        // SAFETY: the one caller (libzmq.py) passes the path of the libzmq
        // already mapped into the process (see the module's invariants).
        match unsafe { Api::load(&path) } {
            Ok(api) => Ok(LibZmq { api, path }),
            Err(error) => Err(pyo3::exceptions::PyOSError::new_err(format!(
                "{path}: {error}"
            ))),
        }
    }
}

#[cfg(test)]
#[path = "zmq_drain_tests.rs"]
mod tests;
