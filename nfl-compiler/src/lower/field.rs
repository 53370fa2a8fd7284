//! Big-endian bit-field extract and insert on packet headers.
//!
//! A field `[bit_offset, bit_offset + width)` (bit 0 is the most
//! significant bit of the header's first byte) is read with one load of
//! 1, 2, 4 or 8 bytes, a byte swap to host order, a shift and a mask. The
//! load window may start before the field, but always stays inside the
//! header, which the parser's single bounds check covered.

use super::{Lower, mir::Reg};
use crate::bpf::insn::*;
use crate::ir::Operand;

pub(crate) use crate::ir::{Window, window};

fn size_code(len: u32) -> u8 {
    match len {
        1 => BPF_B,
        2 => BPF_H,
        4 => BPF_W,
        _ => BPF_DW,
    }
}

fn mask(width: u32) -> u64 {
    if width >= 64 { u64::MAX } else { (1u64 << width) - 1 }
}

impl Lower<'_> {
    fn load_window(&mut self, dst: Reg, ptr: Reg, w: Window) {
        self.emit(BPF_LDX | size_code(w.len) | BPF_MEM, dst, ptr, w.start as i16, 0);
        if w.len > 1 {
            self.emit(BPF_ALU | BPF_END | BPF_TO_BE, dst, Reg::Phys(0), 0, i64::from(w.len * 8));
        }
    }

    fn shift_imm(&mut self, op: u8, dst: Reg, amount: u32, wide: bool) {
        if amount > 0 {
            let class = if wide { BPF_ALU64 } else { BPF_ALU };
            self.emit(class | op | BPF_K, dst, Reg::Phys(0), 0, i64::from(amount));
        }
    }

    /// The field's load window as on the wire (no byte swap), with the bits
    /// outside the field cleared.
    pub(crate) fn load_wire(&mut self, dst: Reg, ptr: Reg, hdr_len: u32, bit_offset: u32, width: u32) {
        let Some(w) = window(hdr_len, bit_offset, width) else {
            return self.load_field(dst, ptr, hdr_len, bit_offset, width);
        };
        self.emit(BPF_LDX | size_code(w.len) | BPF_MEM, dst, ptr, w.start as i16, 0);
        let m = crate::ir::wire_mask(w, bit_offset, width);
        if m != mask(w.len * 8) {
            self.alu(BPF_AND, dst, Operand::Imm(m), w.len * 8);
        }
    }

    pub(crate) fn load_field(&mut self, dst: Reg, ptr: Reg, hdr_len: u32, bit_offset: u32, width: u32) {
        let Some(w) = window(hdr_len, bit_offset, width) else {
            return self.load_field_bytewise(dst, ptr, bit_offset, width);
        };
        self.load_window(dst, ptr, w);
        let above = bit_offset - w.start * 8;
        let below = w.len * 8 - above - width;
        if w.len == 8 {
            // Shift the field to the top, then down: no 64-bit mask needed.
            self.shift_imm(BPF_LSH, dst, above, true);
            self.shift_imm(BPF_RSH, dst, above + below, true);
        } else {
            self.shift_imm(BPF_RSH, dst, below, false);
            if above > 0 {
                self.emit(BPF_ALU | BPF_AND | BPF_K, dst, Reg::Phys(0), 0, mask(width) as u32 as i32 as i64);
            }
        }
    }

    /// Fallback for fields no single load can reach (headers shorter than
    /// the load size, or a 57..=64-bit field spread over nine bytes):
    /// append each byte's share of the field, so the register never holds
    /// more than the field's `width` bits.
    fn load_field_bytewise(&mut self, dst: Reg, ptr: Reg, bit_offset: u32, width: u32) {
        let first = bit_offset / 8;
        let last = (bit_offset + width - 1) / 8;
        let end = bit_offset + width;
        self.mov_imm(dst, 0);
        let t = self.temp();
        for byte in first..=last {
            let lo = bit_offset.max(byte * 8);
            let hi = end.min(byte * 8 + 8);
            let bits = hi - lo;
            self.emit(BPF_LDX | BPF_B | BPF_MEM, t, ptr, byte as i16, 0);
            self.shift_imm(BPF_RSH, t, byte * 8 + 8 - hi, false);
            if bits < 8 {
                self.alu(BPF_AND, t, Operand::Imm(mask(bits)), 32);
            }
            self.shift_imm(BPF_LSH, dst, bits, true);
            self.emit(BPF_ALU64 | BPF_OR | BPF_X, dst, t, 0, 0);
        }
    }

    pub(crate) fn store_field(&mut self, ptr: Reg, hdr_len: u32, bit_offset: u32, width: u32, src: Operand) {
        let aligned = bit_offset % 8 == 0 && matches!(width, 8 | 16 | 32 | 64);
        if aligned {
            return self.store_aligned(ptr, bit_offset / 8, width, src);
        }
        let Some(w) = window(hdr_len, bit_offset, width) else {
            return self.store_field_bytewise(ptr, bit_offset, width, src);
        };
        let wide = w.len == 8;
        let below = w.len * 8 - (bit_offset - w.start * 8) - width;
        let field_mask = mask(width) << below;
        let v = self.temp();
        self.load_window(v, ptr, w);
        // Clear the field's bits in the window.
        let keep = !field_mask & mask(w.len * 8);
        let width_class = if wide { 64 } else { 32 };
        self.alu(BPF_AND, v, Operand::Imm(keep), width_class);
        // Or in the new value, shifted into place.
        match src {
            Operand::Imm(i) => {
                let bits = (i & mask(width)) << below;
                if bits != 0 {
                    self.alu(BPF_OR, v, Operand::Imm(bits), width_class);
                }
            }
            Operand::Var(s) => {
                let t = self.temp();
                let s = self.var(s);
                self.mov(t, s);
                self.shift_imm(BPF_LSH, t, below, wide);
                let class = if wide { BPF_ALU64 } else { BPF_ALU };
                self.emit(class | BPF_OR | BPF_X, v, t, 0, 0);
            }
        }
        if w.len > 1 {
            self.emit(BPF_ALU | BPF_END | BPF_TO_BE, v, Reg::Phys(0), 0, i64::from(w.len * 8));
        }
        self.emit(BPF_STX | size_code(w.len) | BPF_MEM, ptr, v, w.start as i16, 0);
    }

    fn store_aligned(&mut self, ptr: Reg, byte: u32, width: u32, src: Operand) {
        let len = width / 8;
        let off = byte as i16;
        match src {
            Operand::Imm(i) if len <= 4 => {
                // Store the constant already in network byte order.
                let be = match len {
                    1 => i & 0xff,
                    2 => u64::from((i as u16).swap_bytes()),
                    _ => u64::from((i as u32).swap_bytes()),
                };
                self.emit(BPF_ST | size_code(len) | BPF_MEM, ptr, Reg::Phys(0), off, be as u32 as i32 as i64);
            }
            _ => {
                let t = self.temp();
                match src {
                    Operand::Imm(i) => self.mov_imm(t, i.swap_bytes()),
                    Operand::Var(s) => {
                        let s = self.var(s);
                        self.mov(t, s);
                        if len > 1 {
                            self.emit(BPF_ALU | BPF_END | BPF_TO_BE, t, Reg::Phys(0), 0, i64::from(width));
                        }
                    }
                }
                self.emit(BPF_STX | size_code(len) | BPF_MEM, ptr, t, off, 0);
            }
        }
    }

    /// Fallback: read-modify-write each byte the field touches.
    fn store_field_bytewise(&mut self, ptr: Reg, bit_offset: u32, width: u32, src: Operand) {
        let first = bit_offset / 8;
        let last = (bit_offset + width - 1) / 8;
        let end = bit_offset + width;
        let s = match src {
            Operand::Var(v) => self.var(v),
            Operand::Imm(i) => {
                let t = self.temp();
                self.mov_imm(t, i);
                t
            }
        };
        for byte in first..=last {
            let lo = bit_offset.max(byte * 8);
            let hi = end.min(byte * 8 + 8);
            let bits = hi - lo;
            let pos = byte * 8 + 8 - hi;
            let b = self.temp();
            self.emit(BPF_LDX | BPF_B | BPF_MEM, b, ptr, byte as i16, 0);
            let keep = !(mask(bits) << pos) & 0xff;
            self.alu(BPF_AND, b, Operand::Imm(keep), 32);
            let t = self.temp();
            self.mov(t, s);
            self.shift_imm(BPF_RSH, t, end - hi, true);
            self.alu(BPF_AND, t, Operand::Imm(mask(bits)), 64);
            self.shift_imm(BPF_LSH, t, pos, false);
            self.emit(BPF_ALU | BPF_OR | BPF_X, b, t, 0, 0);
            self.emit(BPF_STX | BPF_B | BPF_MEM, ptr, b, byte as i16, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_stay_inside_the_header() {
        // ipv4 ihl: bits 4..8 of a 20-byte header -> one byte at 0.
        assert_eq!(window(20, 4, 4), Some(Window { start: 0, len: 1 }));
        // ipv4 frag_offset: bits 51..64 -> two bytes at 6.
        assert_eq!(window(20, 51, 13), Some(Window { start: 6, len: 2 }));
        // ethernet src (bits 48..96) in 14 bytes: 8-byte window ending at 14.
        assert_eq!(window(14, 48, 48), Some(Window { start: 6, len: 8 }));
        // A 24-bit field at the end of a 4-byte header.
        assert_eq!(window(4, 8, 24), Some(Window { start: 0, len: 4 }));
        // A 6-byte header cannot take an 8-byte load.
        assert_eq!(window(6, 0, 48), None);
        // ipv6 flow label: bits 12..32 (bytes 1..=3) -> 4 bytes at 1.
        assert_eq!(window(40, 12, 20), Some(Window { start: 1, len: 4 }));
    }
}
