//! The codec every generated service and client uses: prost's, except that
//! a message that does not decode is the sender's fault, so it answers
//! `INVALID_ARGUMENT` (tonic's prost codec answers `INTERNAL`, which the
//! clients report as a server failure).

use std::marker::PhantomData;

use prost::Message;
use tonic::Status;
use tonic::codec::{BufferSettings, Codec, DecodeBuf, Decoder};
use tonic_prost::ProstEncoder;

/// Wired into the generated code by `build.rs` (`codec_path`).
#[derive(Debug, Clone, Copy)]
pub struct ProtoCodec<Encode, Decode> {
    types: PhantomData<fn(Encode) -> Decode>,
}

impl<Encode, Decode> Default for ProtoCodec<Encode, Decode> {
    fn default() -> Self {
        Self { types: PhantomData }
    }
}

impl<Encode, Decode> Codec for ProtoCodec<Encode, Decode>
where
    Encode: Message + Send + 'static,
    Decode: Message + Default + Send + 'static,
{
    type Encode = Encode;
    type Decode = Decode;
    type Encoder = ProstEncoder<Encode>;
    type Decoder = ProtoDecoder<Decode>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::new(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProtoDecoder { types: PhantomData }
    }
}

/// Decodes one message; a malformed one is `INVALID_ARGUMENT`.
#[derive(Debug, Clone, Copy)]
pub struct ProtoDecoder<Decode> {
    types: PhantomData<fn() -> Decode>,
}

impl<Decode: Message + Default> Decoder for ProtoDecoder<Decode> {
    type Item = Decode;
    type Error = Status;

    fn decode(&mut self, buffer: &mut DecodeBuf<'_>) -> Result<Option<Decode>, Status> {
        Decode::decode(buffer)
            .map(Some)
            .map_err(|error| Status::invalid_argument(format!("the message does not decode: {error}")))
    }
}
