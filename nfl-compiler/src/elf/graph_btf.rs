//! Program BTF for [`ObjectExtras`]: local structs with kernel members and
//! `contains:` tags, subprogram prototypes, and the kfunc externs with their
//! `.ksyms` DATASEC.

use std::collections::{BTreeMap, HashMap};

use super::ElfError;
use super::btf::{
    BTF_FUNC_EXTERN, BTF_FUNC_STATIC, BTF_INT_BOOL, Btf, BtfType, Member, Param, StrOff, TypeId,
    VarSecInfo,
};
use super::extras::{FieldType, ObjectExtras, SubprogKind};
use super::kfunc::{KSYMS_SECTION, KType, KernelStruct, kfunc_proto};

/// Type ids created for the extras, so that later parts can refer to them.
pub(super) struct LocalTypes {
    int: TypeId,
    u32_id: Option<TypeId>,
    u64_id: Option<TypeId>,
    bool_id: Option<TypeId>,
    kernel: BTreeMap<KernelStruct, TypeId>,
    less_proto: Option<TypeId>,
    /// Local struct name → type id.
    pub structs: HashMap<String, TypeId>,
}

impl LocalTypes {
    pub(super) fn new(int: TypeId) -> LocalTypes {
        LocalTypes {
            int,
            u32_id: None,
            u64_id: None,
            bool_id: None,
            kernel: BTreeMap::new(),
            less_proto: None,
            structs: HashMap::new(),
        }
    }

    fn unsigned(&mut self, btf: &mut Btf, bytes: u32) -> Result<TypeId, ElfError> {
        let slot = if bytes == 4 {
            &mut self.u32_id
        } else {
            &mut self.u64_id
        };
        if let Some(id) = *slot {
            return Ok(id);
        }
        let name = btf.add_str(if bytes == 4 {
            "unsigned int"
        } else {
            "unsigned long long"
        })?;
        let id = btf.add_type(BtfType::Int {
            name,
            size: bytes,
            encoding: 0,
            bits: bytes * 8,
        })?;
        *slot = Some(id);
        Ok(id)
    }

    fn bool_type(&mut self, btf: &mut Btf) -> Result<TypeId, ElfError> {
        if let Some(id) = self.bool_id {
            return Ok(id);
        }
        let name = btf.add_str("_Bool")?;
        let id = btf.add_type(BtfType::Int {
            name,
            size: 1,
            encoding: BTF_INT_BOOL,
            bits: 8,
        })?;
        self.bool_id = Some(id);
        Ok(id)
    }

    /// `struct bpf_spin_lock { __u32 val; }` or `struct S { __u64 __opaque[N]; }`.
    fn kernel_struct(&mut self, btf: &mut Btf, k: KernelStruct) -> Result<TypeId, ElfError> {
        if let Some(id) = self.kernel.get(&k) {
            return Ok(*id);
        }
        let member = if k == KernelStruct::SpinLock {
            Member {
                name: btf.add_str("val")?,
                ty: self.unsigned(btf, 4)?,
                bit_offset: 0,
            }
        } else {
            let elem = self.unsigned(btf, 8)?;
            let arr = btf.add_type(BtfType::Array {
                elem,
                index: self.int,
                nelems: k.size() / 8,
            })?;
            Member {
                name: btf.add_str("__opaque")?,
                ty: arr,
                bit_offset: 0,
            }
        };
        let name = btf.add_str(k.name())?;
        let id = btf.add_type(BtfType::Struct {
            name,
            size: k.size(),
            members: vec![member],
        })?;
        self.kernel.insert(k, id);
        Ok(id)
    }

    fn field(&mut self, btf: &mut Btf, ty: FieldType) -> Result<TypeId, ElfError> {
        match ty {
            FieldType::U32 => self.unsigned(btf, 4),
            FieldType::U64 => self.unsigned(btf, 8),
            FieldType::U64Array(nelems) => {
                let elem = self.unsigned(btf, 8)?;
                Ok(btf.add_type(BtfType::Array { elem, index: self.int, nelems })?)
            }
            FieldType::Kernel(k) => self.kernel_struct(btf, k),
        }
    }

    /// `bool (*)(struct bpf_rb_node *a, const struct bpf_rb_node *b)`'s
    /// FUNC_PROTO.
    fn less_proto(&mut self, btf: &mut Btf) -> Result<TypeId, ElfError> {
        if let Some(id) = self.less_proto {
            return Ok(id);
        }
        let ret = self.bool_type(btf)?;
        let node = self.kernel_struct(btf, KernelStruct::RbNode)?;
        let ptr = btf.add_type(BtfType::Ptr { to: node })?;
        let konst = btf.add_type(BtfType::Const { to: node })?;
        let const_ptr = btf.add_type(BtfType::Ptr { to: konst })?;
        let params = vec![
            Param {
                name: btf.add_str("a")?,
                ty: ptr,
            },
            Param {
                name: btf.add_str("b")?,
                ty: const_ptr,
            },
        ];
        let id = btf.add_type(BtfType::FuncProto { ret, params })?;
        self.less_proto = Some(id);
        Ok(id)
    }

    fn ktype(&mut self, btf: &mut Btf, ty: KType) -> Result<TypeId, ElfError> {
        Ok(match ty {
            KType::Void => TypeId(0),
            KType::Int => self.int,
            KType::U64 => self.unsigned(btf, 8)?,
            KType::U32 => self.unsigned(btf, 4)?,
            KType::U32Ptr => {
                let to = self.unsigned(btf, 4)?;
                btf.add_type(BtfType::Ptr { to })?
            }
            KType::U8Ptr => {
                let name = btf.add_str("unsigned char")?;
                let to = btf.add_type(BtfType::Int { name, size: 1, encoding: 0, bits: 8 })?;
                btf.add_type(BtfType::Ptr { to })?
            }
            KType::IntPtr => btf.add_type(BtfType::Ptr { to: self.int })?,
            KType::VoidPtr => btf.add_type(BtfType::Ptr { to: TypeId(0) })?,
            KType::Ptr(k) => {
                let to = self.kernel_struct(btf, k)?;
                btf.add_type(BtfType::Ptr { to })?
            }
            KType::RbLess => {
                let to = self.less_proto(btf)?;
                btf.add_type(BtfType::Ptr { to })?
            }
        })
    }
}

/// Adds the local structs (fields' types first) and their `contains:`
/// DECL_TAGs.
pub(super) fn add_structs(
    btf: &mut Btf,
    types: &mut LocalTypes,
    extras: &ObjectExtras,
) -> Result<(), ElfError> {
    for st in &extras.structs {
        let layout = st.layout();
        let mut members = Vec::with_capacity(st.fields.len());
        for (f, off) in st.fields.iter().zip(&layout.offsets) {
            members.push(Member {
                name: btf.add_str(&f.name)?,
                ty: types.field(btf, f.ty)?,
                bit_offset: off * 8,
            });
        }
        let name = btf.add_str(&st.name)?;
        let id = btf.add_type(BtfType::Struct {
            name,
            size: layout.size,
            members,
        })?;
        types.structs.insert(st.name.clone(), id);
        for (idx, f) in st.fields.iter().enumerate() {
            if let Some(c) = &f.contains {
                let tag = btf.add_str(&format!("contains:{}:{}", c.node_struct, c.node_field))?;
                let component_idx =
                    i32::try_from(idx).map_err(|_| ElfError::TooLarge("struct fields".into()))?;
                btf.add_type(BtfType::DeclTag {
                    name: tag,
                    ty: id,
                    component_idx,
                })?;
            }
        }
    }
    Ok(())
}

/// Adds one static FUNC per subprogram and returns their ids in order.
pub(super) fn add_subprog_funcs(
    btf: &mut Btf,
    types: &mut LocalTypes,
    extras: &ObjectExtras,
) -> Result<Vec<TypeId>, ElfError> {
    let mut out = Vec::new();
    for sub in &extras.subprograms {
        let proto = match sub.kind {
            SubprogKind::RbLess => types.less_proto(btf)?,
            SubprogKind::Scalars(n) => {
                let u64_id = types.unsigned(btf, 8)?;
                let mut params = Vec::new();
                for i in 0..n {
                    params.push(Param {
                        name: btf.add_str(&format!("a{i}"))?,
                        ty: u64_id,
                    });
                }
                btf.add_type(BtfType::FuncProto {
                    ret: u64_id,
                    params,
                })?
            }
        };
        let name = btf.add_str(&sub.name)?;
        out.push(btf.add_type(BtfType::Func {
            name,
            proto,
            linkage: BTF_FUNC_STATIC,
        })?);
    }
    Ok(out)
}

/// The kfuncs called, in order of first call site.
pub(super) fn kfuncs_used(extras: &ObjectExtras) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for call in &extras.kfunc_calls {
        if !out.contains(&call.kfunc.as_str()) {
            out.push(&call.kfunc);
        }
    }
    out
}

/// Adds an extern FUNC per kfunc and, as the very last type, the `.ksyms`
/// DATASEC listing them (size 0, entries at offset 0 and size 0, as clang
/// writes it; libbpf lays it out, and the runtime drops it before the
/// kernel sees the BTF, see `nfl_runtime::kfunc`).
pub(super) fn add_ksyms(
    btf: &mut Btf,
    types: &mut LocalTypes,
    kfuncs: &[&str],
) -> Result<(), ElfError> {
    if kfuncs.is_empty() {
        return Ok(());
    }
    let mut vars = Vec::new();
    for name in kfuncs {
        let Some(proto) = kfunc_proto(name) else {
            return Err(ElfError::InvalidExtra(format!("unknown kfunc `{name}`")));
        };
        let ret = types.ktype(btf, proto.ret)?;
        let mut params = Vec::new();
        for (pname, pty) in proto.params {
            params.push(Param {
                name: btf.add_str(pname)?,
                ty: types.ktype(btf, *pty)?,
            });
        }
        let fp = btf.add_type(BtfType::FuncProto { ret, params })?;
        let fname = btf.add_str(name)?;
        let func = btf.add_type(BtfType::Func {
            name: fname,
            proto: fp,
            linkage: BTF_FUNC_EXTERN,
        })?;
        vars.push(VarSecInfo {
            var: func,
            offset: 0,
            size: 0,
        });
    }
    let name: StrOff = btf.add_str(KSYMS_SECTION)?;
    btf.add_type(BtfType::DataSec {
        name,
        size: 0,
        vars,
    })?;
    Ok(())
}
