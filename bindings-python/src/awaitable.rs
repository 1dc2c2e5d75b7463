//! The receive awaitable as a type of its own, with the `am_send` slot (pyo3 classes cannot have it).
//!
//! `await ws.recv()` / `async for` drive an awaitable with `PyIter_Send`: with `am_send` a receive
//! whose message is already buffered returns it directly, instead of raising (and the interpreter
//! catching) a StopIteration carrying it, as `__next__` must.

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
        let free: ffi::freefunc = std::mem::transmute(ffi::PyType_GetSlot(tp, ffi::Py_tp_free));
        free(obj as *mut c_void);
        ffi::Py_DecRef(tp as *mut ffi::PyObject);
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
        let mut slots = [
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
            ffi::PyType_Slot { slot: 0, pfunc: ptr::null_mut() },
        ];
        let mut spec = ffi::PyType_Spec {
            name: c"wssession._wssession.RecvAwait".as_ptr(),
            basicsize: std::mem::size_of::<Raw>() as c_int,
            itemsize: 0,
            flags: ffi::Py_TPFLAGS_DEFAULT as _,
            slots: slots.as_mut_ptr(),
        };
        // SAFETY: attached; the spec and slots are valid for the call (copied by CPython), the method
        // table is static.
        let tp = unsafe { ffi::PyType_FromSpec(&mut spec) };
        if tp.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: a new reference to a type object.
        Ok(unsafe { Bound::from_owned_ptr(py, tp) }.cast_into::<PyType>()?.unbind())
    })
    .map(|t| t.bind(py))
}

/// A new receive awaitable owning `state`.
pub fn new(py: Python<'_>, state: RecvAwait) -> PyResult<Py<PyAny>> {
    let tp = type_object(py)?;
    // SAFETY: attached; the type's allocator returns a zeroed instance (or NULL with an error set),
    // into which the state is moved exactly once (dropped by `dealloc`).
    unsafe {
        let tp_ptr = tp.as_ptr() as *mut ffi::PyTypeObject;
        let alloc: ffi::allocfunc = std::mem::transmute(ffi::PyType_GetSlot(tp_ptr, ffi::Py_tp_alloc));
        let obj = alloc(tp_ptr, 0);
        if obj.is_null() {
            return Err(PyErr::fetch(py));
        }
        ptr::write(&mut (*(obj as *mut Raw)).inner, state);
        Ok(Bound::from_owned_ptr(py, obj).unbind())
    }
}
