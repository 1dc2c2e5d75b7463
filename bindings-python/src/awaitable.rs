//! The receive awaitable and `Ready` as types of their own, with the `am_send` slot (pyo3 classes
//! cannot have it).
//!
//! `await ws.recv()` / `async for` / `await ws.send(..)` drive an awaitable with `PyIter_Send`: with
//! `am_send` a receive whose message is already buffered, or a send that is already done, returns
//! its result directly, instead of raising (and the interpreter catching) a StopIteration carrying
//! it, as `__next__` must.

use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use pyo3::exceptions::PyRuntimeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};

use crate::session::RecvAwait;

/// What one step of an awaitable gives the awaiting coroutine.
pub enum Step {
    /// Suspend the task on this future-like object.
    Yield(Py<PyAny>),
    /// Finished with this value.
    Return(Py<PyAny>),
}

/// The object layout: a header and the receive's state (zeroed by the allocator, then written).
#[repr(C)]
struct Raw {
    ob_base: ffi::PyObject,
    inner: RecvAwait,
}

static TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();

type SendFunc =
    unsafe extern "C" fn(*mut ffi::PyObject, *mut ffi::PyObject, *mut *mut ffi::PyObject) -> ffi::PySendResult;

/// Runs `f` attached, turning a panic into a RuntimeError (nothing may unwind into CPython).
fn guarded<R>(fail: R, f: impl for<'py> FnOnce(Python<'py>) -> PyResult<R>) -> R {
    Python::attach(|py| match catch_unwind(AssertUnwindSafe(|| f(py))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            e.restore(py);
            fail
        }
        Err(_) => {
            PyRuntimeError::new_err("internal error (panic) in a wssession receive").restore(py);
            fail
        }
    })
}

/// The receive state of `obj` (an instance of the type made here).
///
/// SAFETY: `obj` must be an instance of `TYPE`, and the caller attached (CPython calls the slots
/// with the GIL held, and one object's slots never run concurrently).
unsafe fn inner<'a>(obj: *mut ffi::PyObject) -> &'a mut RecvAwait {
    unsafe { &mut (*(obj as *mut Raw)).inner }
}

unsafe extern "C" fn am_send(
    obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: CPython passes an instance of this type and a valid result slot.
    unsafe { *result = ptr::null_mut() };
    guarded(ffi::PySendResult::PYGEN_ERROR, |py| {
        // SAFETY: see `inner`.
        let step = unsafe { inner(obj) }.next(py)?;
        Ok(match step {
            Step::Yield(v) => {
                unsafe { *result = v.into_ptr() };
                ffi::PySendResult::PYGEN_NEXT
            }
            Step::Return(v) => {
                unsafe { *result = v.into_ptr() };
                ffi::PySendResult::PYGEN_RETURN
            }
        })
    })
}

/// `__next__` (used when tracing, or by explicit iteration): a result is raised as StopIteration.
unsafe extern "C" fn iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: see `inner`.
        match unsafe { inner(obj) }.next(py)? {
            Step::Yield(v) => Ok(v.into_ptr()),
            Step::Return(v) => {
                let arg = PyTuple::new(py, [v])?;
                // SAFETY: attached; StopIteration with the value as its single argument.
                unsafe { ffi::PyErr_SetObject(ffi::PyExc_StopIteration, arg.as_ptr()) };
                Ok(ptr::null_mut())
            }
        }
    })
}

unsafe extern "C" fn send_method(obj: *mut ffi::PyObject, _value: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the same object, called as a METH_O method.
    unsafe { iternext(obj) }
}

unsafe extern "C" fn throw_method(obj: *mut ffi::PyObject, args: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: METH_VARARGS passes a tuple; see `inner`.
        let args = unsafe { Bound::from_borrowed_ptr(py, args) }.cast_into::<PyTuple>()?;
        Ok(unsafe { inner(obj) }.throw(py, &args)?.into_ptr())
    })
}

unsafe extern "C" fn close_method(obj: *mut ffi::PyObject, _unused: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: see `inner`.
        unsafe { inner(obj) }.abandon();
        Ok(py.None().into_ptr())
    })
}

unsafe extern "C" fn self_ref(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: returns a new reference to a live object.
    unsafe { ffi::Py_IncRef(obj) };
    obj
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: called once by CPython with the GIL held when the last reference goes; the state was
    // written by `new`. The type is a heap type: its instances hold a reference to it.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        Python::attach(|_| ptr::drop_in_place(&mut (*(obj as *mut Raw)).inner));
        free(obj, tp);
    }
}

/// Frees an instance of a heap type and drops its reference to the type.
///
/// SAFETY: `obj` is an instance of `tp` whose state was dropped already; called once, attached.
unsafe fn free(obj: *mut ffi::PyObject, tp: *mut ffi::PyTypeObject) {
    unsafe {
        let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(tp, ffi::Py_tp_free));
        free(obj as *mut c_void);
        ffi::Py_DecRef(tp as *mut ffi::PyObject);
    }
}

/// A heap type from `slots` (terminated here) named `name`, with `basicsize`-byte instances.
fn make_type(
    py: Python<'_>,
    name: &'static std::ffi::CStr,
    basicsize: usize,
    slots: &[ffi::PyType_Slot],
) -> PyResult<Py<PyType>> {
    let mut slots = slots.to_vec();
    slots.push(ffi::PyType_Slot { slot: 0, pfunc: ptr::null_mut() });
    let mut spec = ffi::PyType_Spec {
        name: name.as_ptr(),
        basicsize: basicsize as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    };
    // SAFETY: attached; the spec and slots are valid for the call (copied by CPython); method
    // tables and docs they point to are static.
    let tp = unsafe { ffi::PyType_FromSpec(&mut spec) };
    if tp.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: a new reference to a type object.
    Ok(unsafe { Bound::from_owned_ptr(py, tp) }.cast_into::<PyType>()?.unbind())
}

/// A new instance of `tp` (zeroed; NULL-checked), for the caller to initialise.
///
/// SAFETY: attached; the caller writes the instance's state before handing it out.
unsafe fn alloc(py: Python<'_>, tp: &Bound<'_, PyType>) -> PyResult<*mut ffi::PyObject> {
    unsafe {
        let tp_ptr = tp.as_ptr() as *mut ffi::PyTypeObject;
        let alloc: ffi::allocfunc = std::mem::transmute(ffi::PyType_GetSlot(tp_ptr, ffi::Py_tp_alloc));
        let obj = alloc(tp_ptr, 0);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        Ok(obj)
    }
}

/// The type object (`wssession._wssession.RecvAwait`), made on first use.
pub fn type_object(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    TYPE.get_or_try_init(py, || {
        // Method tables must outlive the type: made once per process.
        let methods: &'static mut [ffi::PyMethodDef; 4] = Box::leak(Box::new([
            ffi::PyMethodDef {
                ml_name: c"send".as_ptr(),
                ml_meth: ffi::PyMethodDefPointer { PyCFunction: send_method },
                ml_flags: ffi::METH_O,
                ml_doc: c"Resumes the receive (the value is ignored).".as_ptr(),
            },
            ffi::PyMethodDef {
                ml_name: c"throw".as_ptr(),
                ml_meth: ffi::PyMethodDefPointer { PyCFunction: throw_method },
                ml_flags: ffi::METH_VARARGS,
                ml_doc: c"Abandons the receive, raising the exception.".as_ptr(),
            },
            ffi::PyMethodDef {
                ml_name: c"close".as_ptr(),
                ml_meth: ffi::PyMethodDefPointer { PyCFunction: close_method },
                ml_flags: ffi::METH_NOARGS,
                ml_doc: c"Abandons the receive.".as_ptr(),
            },
            ffi::PyMethodDef::zeroed(),
        ]));
        let send: SendFunc = am_send;
        make_type(
            py,
            c"wssession._wssession.RecvAwait",
            std::mem::size_of::<Raw>(),
            &[
                ffi::PyType_Slot { slot: ffi::Py_tp_dealloc, pfunc: dealloc as *mut c_void },
                ffi::PyType_Slot { slot: ffi::Py_am_await, pfunc: self_ref as *mut c_void },
                ffi::PyType_Slot { slot: ffi::Py_am_send, pfunc: send as *mut c_void },
                ffi::PyType_Slot { slot: ffi::Py_tp_iter, pfunc: self_ref as *mut c_void },
                ffi::PyType_Slot { slot: ffi::Py_tp_iternext, pfunc: iternext as *mut c_void },
                ffi::PyType_Slot { slot: ffi::Py_tp_methods, pfunc: methods.as_mut_ptr() as *mut c_void },
                ffi::PyType_Slot {
                    slot: ffi::Py_tp_doc,
                    pfunc: c"A pending receive; awaiting it drains many queued messages per wake-up.".as_ptr()
                        as *mut c_void,
                },
            ],
        )
    })
    .map(|t| t.bind(py))
}

/// A new receive awaitable owning `state`.
pub fn new(py: Python<'_>, state: RecvAwait) -> PyResult<Py<PyAny>> {
    let tp = type_object(py)?;
    // SAFETY: attached; the zeroed instance gets its state moved in exactly once (dropped by `dealloc`).
    unsafe {
        let obj = alloc(py, tp)?;
        ptr::write(&mut (*(obj as *mut Raw)).inner, state);
        Ok(Bound::from_owned_ptr(py, obj).unbind())
    }
}

// ---- Ready: an awaitable whose result is already known ----

/// A Ready object: a header and its result (taken by the first await; None when absent).
#[repr(C)]
struct RawReady {
    ob_base: ffi::PyObject,
    value: Option<Py<PyAny>>,
}

static READY_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static READY_NONE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

/// The result of `obj` (a Ready), taken (None from then on).
///
/// SAFETY: `obj` is a Ready; attached.
unsafe fn ready_take(py: Python<'_>, obj: *mut ffi::PyObject) -> Py<PyAny> {
    unsafe { (*(obj as *mut RawReady)).value.take() }.unwrap_or_else(|| py.None())
}

unsafe extern "C" fn ready_send(
    obj: *mut ffi::PyObject,
    _arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: CPython passes a Ready and a valid result slot, attached.
    unsafe {
        let py = Python::assume_attached();
        *result = ready_take(py, obj).into_ptr();
    }
    ffi::PySendResult::PYGEN_RETURN
}

unsafe extern "C" fn ready_next(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    guarded(ptr::null_mut(), |py| {
        // SAFETY: a Ready, attached.
        let v = unsafe { ready_take(py, obj) };
        if !v.is_none(py) {
            let arg = PyTuple::new(py, [v])?;
            // SAFETY: attached; StopIteration with the value as its single argument.
            unsafe { ffi::PyErr_SetObject(ffi::PyExc_StopIteration, arg.as_ptr()) };
        }
        // NULL without an error: finished with None.
        Ok(ptr::null_mut())
    })
}

unsafe extern "C" fn ready_send_method(obj: *mut ffi::PyObject, _value: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: the same object, called as a METH_O method.
    unsafe { ready_next(obj) }
}

unsafe extern "C" fn ready_dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: see `dealloc`.
    unsafe {
        let tp = ffi::Py_TYPE(obj);
        Python::attach(|_| ptr::drop_in_place(&mut (*(obj as *mut RawReady)).value));
        free(obj, tp);
    }
}

fn ready_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    READY_TYPE
        .get_or_try_init(py, || {
            let methods: &'static mut [ffi::PyMethodDef; 2] = Box::leak(Box::new([
                ffi::PyMethodDef {
                    ml_name: c"send".as_ptr(),
                    ml_meth: ffi::PyMethodDefPointer { PyCFunction: ready_send_method },
                    ml_flags: ffi::METH_O,
                    ml_doc: c"Finishes with the result (the value is ignored).".as_ptr(),
                },
                ffi::PyMethodDef::zeroed(),
            ]));
            let send: SendFunc = ready_send;
            make_type(
                py,
                c"wssession._wssession.Ready",
                std::mem::size_of::<RawReady>(),
                &[
                    ffi::PyType_Slot { slot: ffi::Py_tp_dealloc, pfunc: ready_dealloc as *mut c_void },
                    ffi::PyType_Slot { slot: ffi::Py_am_await, pfunc: self_ref as *mut c_void },
                    ffi::PyType_Slot { slot: ffi::Py_am_send, pfunc: send as *mut c_void },
                    ffi::PyType_Slot { slot: ffi::Py_tp_iter, pfunc: self_ref as *mut c_void },
                    ffi::PyType_Slot { slot: ffi::Py_tp_iternext, pfunc: ready_next as *mut c_void },
                    ffi::PyType_Slot { slot: ffi::Py_tp_methods, pfunc: methods.as_mut_ptr() as *mut c_void },
                    ffi::PyType_Slot {
                        slot: ffi::Py_tp_doc,
                        pfunc: c"An awaitable whose result is already known: awaiting it never suspends.".as_ptr()
                            as *mut c_void,
                    },
                ],
            )
        })
        .map(|t| t.bind(py))
}

/// The Ready type object (`wssession._wssession.Ready`).
pub fn ready_type_object(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    ready_type(py)
}

/// A finished awaitable with `value` (handed out by its first await).
pub fn ready(py: Python<'_>, value: Py<PyAny>) -> PyResult<Py<PyAny>> {
    let tp = ready_type(py)?;
    // SAFETY: attached; the zeroed instance (value None) gets its value written once.
    unsafe {
        let obj = alloc(py, tp)?;
        ptr::write(&mut (*(obj as *mut RawReady)).value, Some(value));
        Ok(Bound::from_owned_ptr(py, obj).unbind())
    }
}

/// A finished awaitable with the result None (one shared instance: it holds no state).
pub fn ready_none(py: Python<'_>) -> Py<PyAny> {
    READY_NONE
        .get_or_init(py, || {
            let tp = ready_type(py).expect("making the Ready type");
            // SAFETY: attached; a zeroed instance is a valid Ready with no value.
            unsafe { Bound::from_owned_ptr(py, alloc(py, tp).expect("allocating Ready")).unbind() }
        })
        .clone_ref(py)
}
