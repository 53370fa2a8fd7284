//! Byte encoding of [`Insn`] as the kernel's `struct bpf_insn`.
//!
//! Layout of one 8-byte slot, little-endian:
//! byte 0 `code`, byte 1 `dst_reg` (low nibble) and `src_reg` (high nibble),
//! bytes 2..4 `off` (i16), bytes 4..8 `imm` (i32).

use super::insn::Insn;

/// Size of one instruction slot in bytes.
pub const INSN_SIZE: usize = 8;

/// Why a byte string is not a sequence of instructions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("instruction bytes have length {len}, which is not a multiple of 8")]
    BadLength { len: usize },
}

/// Encodes one slot. Registers are truncated to their 4-bit fields.
pub fn encode_insn(insn: Insn) -> [u8; INSN_SIZE] {
    let off = insn.off.to_le_bytes();
    let imm = insn.imm.to_le_bytes();
    [
        insn.code,
        (insn.dst & 0x0f) | ((insn.src & 0x0f) << 4),
        off[0],
        off[1],
        imm[0],
        imm[1],
        imm[2],
        imm[3],
    ]
}

/// Decodes one 8-byte slot.
pub fn decode_insn(bytes: [u8; INSN_SIZE]) -> Insn {
    let [code, regs, o0, o1, i0, i1, i2, i3] = bytes;
    Insn {
        code,
        dst: regs & 0x0f,
        src: regs >> 4,
        off: i16::from_le_bytes([o0, o1]),
        imm: i32::from_le_bytes([i0, i1, i2, i3]),
    }
}

/// Encodes instructions as the kernel and ELF objects store them.
pub fn encode(insns: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(insns.len() * INSN_SIZE);
    for insn in insns {
        out.extend_from_slice(&encode_insn(*insn));
    }
    out
}

/// Decodes a byte string into instruction slots. Any 8-byte pattern is a
/// valid slot; only a length that is not a multiple of 8 is an error.
pub fn decode(bytes: &[u8]) -> Result<Vec<Insn>, DecodeError> {
    if !bytes.len().is_multiple_of(INSN_SIZE) {
        return Err(DecodeError::BadLength { len: bytes.len() });
    }
    Ok(bytes
        .chunks_exact(INSN_SIZE)
        .map(|chunk| {
            let mut slot = [0u8; INSN_SIZE];
            slot.copy_from_slice(chunk);
            decode_insn(slot)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bpf::insn::*;

    #[test]
    fn encodes_known_bytes() {
        // `r0 = 2` and `exit`, as clang emits them.
        let bytes = encode(&[Insn::mov64_imm(0, 2), Insn::exit()]);
        assert_eq!(
            bytes,
            [0xb7, 0x00, 0, 0, 2, 0, 0, 0, 0x95, 0x00, 0, 0, 0, 0, 0, 0]
        );
        // `*(u16 *)(r10 -8) = r3`: dst in the low nibble, src in the high one.
        let bytes = encode(&[Insn::stx(BPF_H, R10, -8, 3)]);
        assert_eq!(bytes, [0x6b, 0x3a, 0xf8, 0xff, 0, 0, 0, 0]);
        // Negative immediate, little-endian.
        let bytes = encode(&[Insn::alu64_imm(BPF_ADD, 2, -4)]);
        assert_eq!(bytes, [0x07, 0x02, 0, 0, 0xfc, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn round_trips() {
        let mut insns = vec![
            Insn::ldx(BPF_W, 2, 1, 4),
            Insn::st_imm(BPF_B, 2, 0, 5),
            Insn::jmp_reg(BPF_JGT, 2, 3, 5),
            Insn::new(BPF_JMP32 | BPF_JEQ | BPF_K, 1, 0, -3, 0x800),
            Insn::call_helper(23),
        ];
        insns.extend(Insn::ld_imm64(1, 0x1234_5678_90ab_cdef));
        let bytes = encode(&insns);
        assert_eq!(bytes.len(), insns.len() * 8);
        assert_eq!(decode(&bytes), Ok(insns));
    }

    #[test]
    fn rejects_bad_length() {
        assert_eq!(decode(&[0; 7]), Err(DecodeError::BadLength { len: 7 }));
        assert_eq!(decode(&[]), Ok(vec![]));
    }
}
