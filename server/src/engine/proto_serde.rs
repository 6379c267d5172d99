//! Protobuf messages inside the serde-encoded mutable state.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A protobuf message stored in the mutable state as base64 of its wire encoding, so the
/// state needs no serde support from the generated types.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Proto<T>(pub T);

impl<T: prost::Message> Serialize for Proto<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(self.0.encode_to_vec()))
    }
}

impl<'de, T: prost::Message + Default> Deserialize<'de> for Proto<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = STANDARD.decode(text).map_err(serde::de::Error::custom)?;
        T::decode(bytes.as_slice())
            .map(Proto)
            .map_err(serde::de::Error::custom)
    }
}
