// A thin RAII layer over the HDF5 C API, used by the schema readers and
// writers (kv_dump, dictionary_file, codes_file). Every failure becomes a
// lexico::Error naming the file and the object; HDF5's own stack printing is
// switched off so users see one line.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace lexico::h5 {

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }
  void reset();
  hid_t get() const { return id_; }
  explicit operator bool() const { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

enum class Storage { F16, F32 };

// HDF5 1.10 has no predefined half type: this is IEEE binary16, little endian,
// the same type h5py and numpy write for float16.
hid_t f16_type();

class File {
 public:
  // Opens for reading; checks the HDF5 signature first so that a text file or
  // a truncated file is reported as such.
  static File open_read(const std::string& path);
  // Opens for reading and writing (for resumable appends).
  static File open_rw(const std::string& path);
  // Creates (truncates) a file; callers pass an AtomicOutput temp path.
  static File create(const std::string& path);

  const std::string& path() const { return path_; }
  hid_t id() const { return file_.get(); }
  void flush();
  void close() { file_.reset(); }

  bool exists(const std::string& obj) const;
  void create_group(const std::string& name);
  // Names of the members of a group, sorted.
  std::vector<std::string> list(const std::string& group) const;
  // The layer indices under /layers (members named 0, 1, ...), ascending;
  // BadInput when the group is missing or a member is not a layer < n_layers.
  std::vector<int> layer_indices(int n_layers) const;

  // Attributes on an object ("/" for the file root).
  void set_attr(const std::string& obj, const std::string& name, const std::string& value);
  void set_attr(const std::string& obj, const std::string& name, int64_t value);
  void set_attr(const std::string& obj, const std::string& name, double value);
  void set_attr(const std::string& obj, const std::string& name, const std::vector<double>& value);
  bool has_attr(const std::string& obj, const std::string& name) const;
  std::string attr_string(const std::string& obj, const std::string& name) const;
  int64_t attr_int(const std::string& obj, const std::string& name) const;
  double attr_double(const std::string& obj, const std::string& name) const;
  std::vector<double> attr_doubles(const std::string& obj, const std::string& name) const;

  // Datasets. Shapes are row-major (C order). Float datasets are chunked and
  // deflate-compressed; `extendable` makes the first dimension unlimited.
  void write_floats(const std::string& name, const float* data, const std::vector<hsize_t>& shape,
                    Storage storage, bool extendable = false);
  void write_ints(const std::string& name, const int32_t* data, hsize_t n, bool extendable = false);
  void write_u16(const std::string& name, const uint16_t* data, hsize_t n);
  void write_u8(const std::string& name, const uint8_t* data, hsize_t n);
  void write_u64(const std::string& name, const uint64_t* data, hsize_t n);
  // Appends rows along the first dimension of an extendable dataset.
  void append_floats(const std::string& name, const float* data, hsize_t rows);
  void append_ints(const std::string& name, const int32_t* data, hsize_t n);

  std::vector<hsize_t> shape(const std::string& name) const;
  bool is_float_dataset(const std::string& name) const;
  // Reads rows [row0, row0 + rows) of a dataset along its first dimension
  // (the whole dataset by default), converting to the requested type.
  std::vector<float> read_floats(const std::string& name, hsize_t row0 = 0, hsize_t rows = ~hsize_t(0)) const;
  std::vector<int32_t> read_ints(const std::string& name) const;
  std::vector<uint16_t> read_u16(const std::string& name) const;
  std::vector<uint8_t> read_u8(const std::string& name) const;
  std::vector<uint64_t> read_u64(const std::string& name) const;

 private:
  File(std::string path, Handle file) : path_(std::move(path)), file_(std::move(file)) {}
  Handle open_dataset(const std::string& name) const;
  void write_raw(const std::string& name, hid_t file_type, hid_t mem_type, const void* data,
                 const std::vector<hsize_t>& shape, bool extendable, bool compress);
  void append_raw(const std::string& name, hid_t mem_type, const void* data, hsize_t rows);
  void read_raw(const std::string& name, hid_t mem_type, void* out, hsize_t expected) const;
  template <typename T>
  std::vector<T> read_vector(const std::string& name, hid_t mem_type) const;

  std::string path_;
  Handle file_;
};

// Checks the `format` and `version` attributes every lexico file carries.
void check_format(const File& f, const std::string& format, int64_t max_version);

}  // namespace lexico::h5
