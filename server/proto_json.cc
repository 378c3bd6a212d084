#include "server/proto_json.h"

#include <google/protobuf/descriptor.pb.h>

#include <cmath>
#include <map>
#include <string>

namespace curator {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using nlohmann::ordered_json;

ordered_json Number(double v) {
  return std::isfinite(v) ? ordered_json(v) : ordered_json();
}

// The value of field `f` of `m` (element `i` if repeated, else -1).
ordered_json Value(const Message& m, const FieldDescriptor* f, int i) {
  const Reflection* r = m.GetReflection();
  const bool rep = i >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f);
    case FieldDescriptor::CPPTYPE_INT64:
      return rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f);
    case FieldDescriptor::CPPTYPE_UINT32:
      return rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
    case FieldDescriptor::CPPTYPE_UINT64:
      return rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
    case FieldDescriptor::CPPTYPE_DOUBLE:
      return Number(rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
      return Number(rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f));
    case FieldDescriptor::CPPTYPE_BOOL:
      return rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f);
    case FieldDescriptor::CPPTYPE_ENUM: {
      const int v =
          rep ? r->GetRepeatedEnumValue(m, f, i) : r->GetEnumValue(m, f);
      const auto* e = f->enum_type()->FindValueByNumber(v);
      return e != nullptr ? ordered_json(e->name()) : ordered_json(v);
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return ProtoToJson(rep ? r->GetRepeatedMessage(m, f, i)
                             : r->GetMessage(m, f));
  }
  return ordered_json();
}

std::string TypeName(const FieldDescriptor* f) {
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64:
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64:
      return "integer";
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return "number";
    case FieldDescriptor::CPPTYPE_BOOL:
      return "boolean";
    case FieldDescriptor::CPPTYPE_ENUM:
      return f->enum_type()->full_name();
    case FieldDescriptor::CPPTYPE_STRING:
      return "string";
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return f->message_type()->full_name();
  }
  return "unknown";
}

void DescribeEnum(const EnumDescriptor* e, ordered_json* schemas) {
  if (schemas->contains(e->full_name())) return;
  ordered_json values = ordered_json::array();
  for (int i = 0; i < e->value_count(); ++i)
    values.push_back(e->value(i)->name());
  (*schemas)[e->full_name()] = {{"enum", values}};
}

}  // namespace

ordered_json ProtoToJson(const Message& m) {
  const Descriptor* d = m.GetDescriptor();
  const Reflection* r = m.GetReflection();
  ordered_json out = ordered_json::object();
  for (int k = 0; k < d->field_count(); ++k) {
    const FieldDescriptor* f = d->field(k);
    if (f->options().deprecated()) continue;
    if (f->is_map()) {
      // Entries sorted by the key's text (numbers by value).
      const FieldDescriptor* key = f->message_type()->map_key();
      const FieldDescriptor* value = f->message_type()->map_value();
      std::map<std::pair<int64_t, std::string>, ordered_json> sorted;
      for (int i = 0; i < r->FieldSize(m, f); ++i) {
        const Message& entry = r->GetRepeatedMessage(m, f, i);
        const ordered_json k_json = Value(entry, key, -1);
        const std::string text =
            k_json.is_string() ? k_json.get<std::string>() : k_json.dump();
        const int64_t n =
            k_json.is_number_integer() ? k_json.get<int64_t>() : 0;
        sorted[{n, text}] = Value(entry, value, -1);
      }
      ordered_json obj = ordered_json::object();
      for (auto& [k_pair, v] : sorted) obj[k_pair.second] = std::move(v);
      out[f->name()] = std::move(obj);
    } else if (f->is_repeated()) {
      ordered_json list = ordered_json::array();
      for (int i = 0; i < r->FieldSize(m, f); ++i)
        list.push_back(Value(m, f, i));
      out[f->name()] = std::move(list);
    } else {
      out[f->name()] = Value(m, f, -1);
    }
  }
  return out;
}

std::string JsonText(const ordered_json& json) {
  return json.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

void Describe(const Descriptor* d, ordered_json* schemas) {
  if (schemas->contains(d->full_name())) return;
  (*schemas)[d->full_name()] =
      ordered_json::object();  // before recursing: cycles
  ordered_json fields = ordered_json::array();
  for (int k = 0; k < d->field_count(); ++k) {
    const FieldDescriptor* f = d->field(k);
    if (f->options().deprecated()) continue;
    ordered_json field = {{"name", f->name()}};
    const FieldDescriptor* of = f;
    if (f->is_map()) {
      of = f->message_type()->map_value();
      field["type"] = "object";
      field["values"] = TypeName(of);
    } else {
      field["type"] = f->is_repeated() ? "array" : TypeName(f);
      if (f->is_repeated()) field["items"] = TypeName(f);
    }
    if (of->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE)
      Describe(of->message_type(), schemas);
    if (of->cpp_type() == FieldDescriptor::CPPTYPE_ENUM)
      DescribeEnum(of->enum_type(), schemas);
    fields.push_back(std::move(field));
  }
  (*schemas)[d->full_name()] = {{"fields", std::move(fields)}};
}

}  // namespace curator
