//! Helper and kfunc calls out of a running program.

use super::vm::{FaultKind, KFUNC_BASE, Vm};

/// Run helper (or kfunc) `id` with `args`; `pc` names the call.
///
/// # Safety
/// `vm` must point to a live [`Vm`] that nothing else borrows.
pub unsafe fn dispatch(vm: *mut Vm, id: u64, args: [u64; 5], pc: u32) -> u64 {
    // SAFETY: the caller's promise.
    let vm = unsafe { &mut *vm };
    let _ = args;
    if id >= KFUNC_BASE {
        vm.raise(pc, FaultKind::Helper { id, message: "kfunc not implemented".into() });
        return 0;
    }
    vm.raise(pc, FaultKind::Helper { id, message: "helper not implemented".into() });
    0
}
