//! The libFuzzer driver every target binary runs: libFuzzer's
//! `LLVMFuzzerRunDriver` (from its static library, which
//! `fuzz/rustc-wrapper.sh` links into the target binaries) calls the
//! target with each input it generates.
//!
//! This stands in for the `libfuzzer-sys` crate on purpose: that crate's
//! build dependency on `cc` with the `parallel` feature would change the
//! `cc` every build script of the workspace is built with, and so rebuild
//! ring, wasmtime and everything above them in every build of the
//! workspace.

// The FFI boundary with libFuzzer: its entry point, and the input it lends
// to the callback.
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int};
use std::os::unix::ffi::OsStringExt;
use std::sync::OnceLock;

unsafe extern "C" {
    /// libFuzzer's `main`, as a function: parses libFuzzer's flags from
    /// `argv` and calls `callback` with each input until it stops.
    fn LLVMFuzzerRunDriver(
        argc: *mut c_int,
        argv: *mut *mut *mut c_char,
        callback: extern "C" fn(*const u8, usize) -> c_int,
    ) -> c_int;
}

/// The target this process fuzzes.
static TARGET: OnceLock<crate::Target> = OnceLock::new();

extern "C" fn test_one_input(data: *const u8, size: usize) -> c_int {
    let input: &[u8] = if data.is_null() || size == 0 {
        &[]
    } else {
        // SAFETY: libFuzzer lends `size` readable bytes at `data` for the
        // duration of this call, and nothing keeps them past it.
        unsafe { std::slice::from_raw_parts(data, size) }
    };
    if let Some(target) = TARGET.get() {
        target(input);
    }
    0
}

/// Runs libFuzzer on `target` with this process's arguments (libFuzzer's
/// flags and corpus directories) and exits with its status. When
/// [`crate::seeds::WRITE_SEEDS`] is set, writes the generated seeds instead.
pub fn run(target: crate::Target) -> ! {
    crate::seeds::write_if_asked();
    TARGET.set(target).expect("run is called once");
    // A panic is a finding: print it as usual, then abort, which libFuzzer
    // reports as a crash ("deadly signal") and saves the input for.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::abort();
    }));
    let args: Vec<CString> = std::env::args_os()
        .map(|arg| CString::new(arg.into_vec()).expect("no NUL inside a command-line argument"))
        .collect();
    let mut pointers: Vec<*mut c_char> =
        args.iter().map(|arg| arg.as_ptr().cast_mut()).chain([std::ptr::null_mut()]).collect();
    let mut argc = c_int::try_from(args.len()).expect("fewer than 2^31 arguments");
    let mut argv = pointers.as_mut_ptr();
    // SAFETY: `argc` and `argv` describe NUL-terminated strings, followed by
    // a null pointer, that outlive the call (`args` and `pointers` are alive
    // until the process exits); libFuzzer reads them and may reorder the
    // pointers, never writes the strings.
    let status = unsafe { LLVMFuzzerRunDriver(&mut argc, &mut argv, test_one_input) };
    std::process::exit(status)
}
