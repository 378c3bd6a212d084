// JSON for Curator's answers (curatorctl --json, the Load Monitor's API),
// from protobuf messages by reflection through nlohmann::json, so that a
// script sees one stable shape:
// - every field, in the order the .proto declares it, defaults included
//   (a state with no tasks is 0, not missing);
// - 64-bit integers as JSON numbers, not strings (protobuf's own JSON
//   mapping quotes them); a NaN or infinite double as null;
// - map entries sorted by key, so two calls print the same bytes for the
//   same content;
// - enums by name ("CU3"); fields marked [deprecated = true] left out;
// - strings escaped by the library, invalid UTF-8 replaced (U+FFFD).
// Describe() gives the schema of a message (for `curatorctl describe`):
// its fields with their JSON types, and every message and enum it uses.
#ifndef CURATOR_SERVER_PROTO_JSON_H_
#define CURATOR_SERVER_PROTO_JSON_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <nlohmann/json.hpp>
#include <string>

namespace curator {

nlohmann::ordered_json ProtoToJson(const google::protobuf::Message& message);

// One line of JSON text, never throwing on odd strings.
std::string JsonText(const nlohmann::ordered_json& json);

// Adds the schema of `message` to `schemas` (an object: full name ->
// {"fields": [{"name", "type"}, ...]}) and of every message and enum it
// refers to ({"enum": [names]}). A type is JSON's ("integer", "number",
// "boolean", "string") or an enum's or message's full name; a repeated
// field is {"type": "array", "items": T}, a map {"type": "object",
// "values": T}.
void Describe(const google::protobuf::Descriptor* message,
              nlohmann::ordered_json* schemas);

}  // namespace curator

#endif  // CURATOR_SERVER_PROTO_JSON_H_
