//! A minimal protobuf wire codec: varints, tags and length-delimited fields,
//! just enough for the `KeyVersion` message of §7.3. Unknown fields are
//! skipped, as proto3 decoders do.

use crate::error::KeyFormatError;

/// Wire type of a varint field.
pub(crate) const VARINT: u8 = 0;
/// Wire type of a length-delimited field.
pub(crate) const LEN: u8 = 2;

/// One decoded field.
pub(crate) enum Field<'a> {
    /// A varint value.
    Varint(u64),
    /// A length-delimited payload.
    Bytes(&'a [u8]),
    /// A fixed-width value the schema does not use.
    Fixed,
}

/// Iterates over the fields of one message.
pub(crate) struct Decoder<'a> {
    buf: &'a [u8],
}

impl<'a> Decoder<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// The next `(field number, value)`, or `None` at the end.
    pub(crate) fn next_field(&mut self) -> Result<Option<(u64, Field<'a>)>, KeyFormatError> {
        if self.buf.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        if number == 0 {
            return Err(KeyFormatError::Protobuf("field number 0"));
        }
        let field = match key & 7 {
            0 => Field::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Field::Fixed
            }
            2 => {
                let len = usize::try_from(self.varint()?)
                    .map_err(|_| KeyFormatError::Protobuf("length too large"))?;
                Field::Bytes(self.take(len)?)
            }
            5 => {
                self.take(4)?;
                Field::Fixed
            }
            _ => return Err(KeyFormatError::Protobuf("unsupported wire type")),
        };
        Ok(Some((number, field)))
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], KeyFormatError> {
        if self.buf.len() < n {
            return Err(KeyFormatError::Protobuf("truncated message"));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn varint(&mut self) -> Result<u64, KeyFormatError> {
        let mut value = 0u64;
        for i in 0..10u32 {
            let Some((&b, rest)) = self.buf.split_first() else {
                return Err(KeyFormatError::Protobuf("truncated varint"));
            };
            self.buf = rest;
            if i == 9 && b > 1 {
                return Err(KeyFormatError::Protobuf("varint overflows 64 bits"));
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(KeyFormatError::Protobuf("varint longer than 10 bytes"))
    }
}

/// Appends a varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Appends a field key.
pub(crate) fn put_key(out: &mut Vec<u8>, number: u64, wire_type: u8) {
    put_varint(out, (number << 3) | u64::from(wire_type));
}

/// Appends a length-delimited field.
pub(crate) fn put_bytes(out: &mut Vec<u8>, number: u64, data: &[u8]) {
    put_key(out, number, LEN);
    put_varint(out, data.len() as u64);
    out.extend_from_slice(data);
}

/// Appends a varint field unless it has the default value 0.
pub(crate) fn put_uint(out: &mut Vec<u8>, number: u64, v: u64) {
    if v != 0 {
        put_key(out, number, VARINT);
        put_varint(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1705055960, u64::MAX, (-1i64) as u64] {
            let mut out = Vec::new();
            put_uint(&mut out, 1, v);
            let mut d = Decoder::new(&out);
            match d.next_field().unwrap() {
                None => assert_eq!(v, 0),
                Some((1, Field::Varint(got))) => assert_eq!(got, v),
                _ => panic!("unexpected field"),
            }
        }
    }

    #[test]
    fn rejects_malformed() {
        assert!(Decoder::new(&[0x08]).next_field().is_err());
        assert!(Decoder::new(&[0x0a, 0x05, 1]).next_field().is_err());
        assert!(Decoder::new(&[0x00, 0x01]).next_field().is_err());
        assert!(Decoder::new(&[0x0b]).next_field().is_err());
        let mut long = vec![0x08];
        long.extend_from_slice(&[0xff; 10]);
        long.push(0x01);
        assert!(Decoder::new(&long).next_field().is_err());
    }
}
