#include "common/escape_proto.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>

#include "common/escape.h"

namespace parallax {

void EscapeMessageStrings(google::protobuf::Message* msg, EscapeMode mode) {
  using google::protobuf::FieldDescriptor;
  const google::protobuf::Reflection* refl = msg->GetReflection();
  const google::protobuf::Descriptor* desc = msg->GetDescriptor();
  auto fix = [mode](const std::string& s) {
    return mode == EscapeMode::kTerminal ? EscapeForTerminal(s) : SanitizeUtf8(s);
  };
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* f = desc->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
      if (f->type() == FieldDescriptor::TYPE_BYTES) continue;
      if (f->is_repeated()) {
        for (int k = 0; k < refl->FieldSize(*msg, f); ++k) {
          refl->SetRepeatedString(msg, f, k, fix(refl->GetRepeatedString(*msg, f, k)));
        }
      } else if (refl->HasField(*msg, f) || !f->has_presence()) {
        std::string v = refl->GetString(*msg, f);
        if (!v.empty()) refl->SetString(msg, f, fix(v));
      }
    } else if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      // Map fields are repeated entry messages with key and value fields;
      // escaping the entries rewrites the map's keys and values.
      if (f->is_repeated()) {
        for (int k = 0; k < refl->FieldSize(*msg, f); ++k) {
          EscapeMessageStrings(refl->MutableRepeatedMessage(msg, f, k), mode);
        }
      } else if (refl->HasField(*msg, f)) {
        EscapeMessageStrings(refl->MutableMessage(msg, f), mode);
      }
    }
  }
}

}  // namespace parallax
