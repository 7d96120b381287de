#include "io/h5.h"

#include <algorithm>
#include <filesystem>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "lexico/error.h"
#include "lexico/half.h"

namespace lexico::h5 {

namespace {

// HDF5 prints its error stack to stderr by default; lexico reports errors
// itself. LEXICO_HDF5_DEBUG=1 keeps HDF5's stack, for diagnosing a file.
// It also keeps HDF5 from closing files at exit: after a failed write (disk
// full) H5Fclose fails and leaves the file open, and HDF5 1.10's exit handler
// then crashes closing it (SIGSEGV in H5F__close_cb). Outputs are closed and
// committed explicitly, so the exit handler has nothing to save.
struct SilenceHdf5 {
  SilenceHdf5() {
    H5dont_atexit();
    if (!std::getenv("LEXICO_HDF5_DEBUG")) H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
};
const SilenceHdf5 silence_hdf5;

hsize_t product(const std::vector<hsize_t>& shape) {
  return std::accumulate(shape.begin(), shape.end(), hsize_t(1), std::multiplies<>());
}

// A corrupt or hostile header can claim any extent; checked before allocating.
// Every value lexico reads takes at least one byte of the file, or 1/1032 of
// one once deflated (deflate's largest ratio), so no honest object holds more.
constexpr hsize_t kMaxExpansion = 1032;

void check_claimed_values(const File& f, hsize_t values, hsize_t per_file_byte, const std::string& what) {
  hsize_t file_size = 0;
  if (H5Fget_filesize(f.id(), &file_size) < 0 || values / per_file_byte > file_size)
    bad_input(f.path(), "{} claims {} values, more than the file of {} bytes can hold (corrupt file?)", what, values,
              file_size);
}

// Object creation properties without modification times, so that the same
// content gives the same bytes (outputs are compared by hash).
Handle untimed(hid_t property_class) {
  Handle p(H5Pcreate(property_class), H5Pclose);
  H5Pset_obj_track_times(p.get(), false);
  return p;
}

}  // namespace

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_) closer_(id_);
  id_ = H5I_INVALID_HID;
}

hid_t f16_type() {
  static const hid_t type = [] {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(t, 15, 10, 5, 0, 10);
    H5Tset_precision(t, 16);
    H5Tset_size(t, 2);
    H5Tset_ebias(t, 15);
    return t;
  }();
  return type;
}

File File::open_read(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) bad_input(path, "no such file");
  if (std::filesystem::is_directory(path, ec)) bad_input(path, "is a folder, not a file");
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is <= 0) bad_input(path, "not an HDF5 file");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) bad_input(path, "cannot open as HDF5 (truncated or corrupt file?)");
  return File(path, Handle(id, H5Fclose));
}

File File::open_rw(const std::string& path) {
  if (H5Fis_hdf5(path.c_str()) <= 0) bad_input(path, "not an HDF5 file");
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  if (id < 0) bad_input(path, "cannot open as HDF5 for appending (truncated or corrupt file?)");
  return File(path, Handle(id, H5Fclose));
}

File File::create(const std::string& path) {
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, untimed(H5P_FILE_CREATE).get(), H5P_DEFAULT);
  if (id < 0) io_error(path, "cannot create HDF5 file");
  return File(path, Handle(id, H5Fclose));
}

void File::flush() {
  if (H5Fflush(file_.get(), H5F_SCOPE_GLOBAL) < 0) io_error(path_, "cannot flush (disk full?)");
}

bool File::exists(const std::string& obj) const {
  if (obj == "/") return true;
  // H5Lexists must be asked for every prefix of a path.
  size_t pos = 0;
  while ((pos = obj.find('/', pos + 1)) != std::string::npos) {
    if (H5Lexists(file_.get(), obj.substr(0, pos).c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return H5Lexists(file_.get(), obj.c_str(), H5P_DEFAULT) > 0;
}

void File::create_group(const std::string& name) {
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle g(H5Gcreate2(file_.get(), name.c_str(), lcpl.get(), untimed(H5P_GROUP_CREATE).get(), H5P_DEFAULT), H5Gclose);
  if (!g) io_error(path_, "cannot create group {}", name);
}

std::vector<std::string> File::list(const std::string& group) const {
  Handle g(H5Gopen2(file_.get(), group.c_str(), H5P_DEFAULT), H5Gclose);
  if (!g) bad_input(path_, "missing group {}", group);
  H5G_info_t info;
  if (H5Gget_info(g.get(), &info) < 0) bad_input(path_, "cannot read group {}", group);
  std::vector<std::string> names;
  for (hsize_t i = 0; i < info.nlinks; ++i) {
    ssize_t len = H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
    if (len < 0) bad_input(path_, "cannot read member {} of group {}", i, group);
    std::string name(static_cast<size_t>(len), '\0');
    H5Lget_name_by_idx(g.get(), ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
    names.push_back(std::move(name));
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<int> File::layer_indices(int n_layers) const {
  if (!exists("/layers")) bad_input(path_, "has no /layers group");
  std::vector<int> layers;
  for (const std::string& name : list("/layers")) {
    const bool digits = !name.empty() && name.size() <= 6 &&
                        std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
    const int l = digits ? std::stoi(name) : -1;
    if (l < 0 || l >= n_layers)
      bad_input(path_, "unexpected member /layers/{} (model has {} layers)", name, n_layers);
    layers.push_back(l);
  }
  std::sort(layers.begin(), layers.end());
  return layers;
}

namespace {

Handle open_object(const File& f, const std::string& obj) {
  Handle h(H5Oopen(f.id(), obj.c_str(), H5P_DEFAULT), H5Oclose);
  if (!h) bad_input(f.path(), "missing object {}", obj);
  return h;
}

void write_attr(const File& f, const std::string& obj, const std::string& name, hid_t type, hid_t space,
                const void* data) {
  Handle o = open_object(f, obj);
  if (H5Aexists(o.get(), name.c_str()) > 0) H5Adelete(o.get(), name.c_str());
  Handle a(H5Acreate2(o.get(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!a || H5Awrite(a.get(), type, data) < 0) io_error(f.path(), "cannot write attribute {}:{}", obj, name);
}

Handle open_attr(const File& f, const std::string& obj, const std::string& name) {
  Handle o = open_object(f, obj);
  Handle a(H5Aopen(o.get(), name.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a) bad_input(f.path(), "missing attribute '{}' on {}", name, obj);
  return a;
}

hssize_t attr_elements(const File& f, const Handle& a, const std::string& name) {
  Handle space(H5Aget_space(a.get()), H5Sclose);
  hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) bad_input(f.path(), "unreadable attribute '{}'", name);
  check_claimed_values(f, static_cast<hsize_t>(n), 1, "attribute '" + name + "'");
  return n;
}

}  // namespace

void File::set_attr(const std::string& obj, const std::string& name, const std::string& value) {
  Handle type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type.get(), std::max<size_t>(value.size(), 1));
  H5Tset_strpad(type.get(), H5T_STR_NULLPAD);
  H5Tset_cset(type.get(), H5T_CSET_UTF8);
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  std::string padded = value.empty() ? std::string(1, '\0') : value;
  write_attr(*this, obj, name, type.get(), space.get(), padded.data());
}

void File::set_attr(const std::string& obj, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(*this, obj, name, H5T_NATIVE_INT64, space.get(), &value);
}

void File::set_attr(const std::string& obj, const std::string& name, double value) {
  Handle space(H5Screate(H5S_SCALAR), H5Sclose);
  write_attr(*this, obj, name, H5T_NATIVE_DOUBLE, space.get(), &value);
}

void File::set_attr(const std::string& obj, const std::string& name, const std::vector<double>& value) {
  hsize_t n = value.size();
  Handle space(n ? H5Screate_simple(1, &n, nullptr) : H5Screate(H5S_NULL), H5Sclose);
  write_attr(*this, obj, name, H5T_NATIVE_DOUBLE, space.get(), value.data());
}

bool File::has_attr(const std::string& obj, const std::string& name) const {
  if (!exists(obj)) return false;
  Handle o = open_object(*this, obj);
  return H5Aexists(o.get(), name.c_str()) > 0;
}

std::string File::attr_string(const std::string& obj, const std::string& name) const {
  Handle a = open_attr(*this, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) bad_input(path_, "attribute '{}' is not a string", name);
  if (attr_elements(*this, a, name) != 1) bad_input(path_, "attribute '{}' is not a single string", name);
  if (H5Tis_variable_str(type.get()) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem.get(), H5T_VARIABLE);
    H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
    char* s = nullptr;
    if (H5Aread(a.get(), mem.get(), &s) < 0 || !s) bad_input(path_, "unreadable attribute '{}'", name);
    std::string out(s);
    H5free_memory(s);
    return out;
  }
  size_t size = H5Tget_size(type.get());
  check_claimed_values(*this, size, 1, "string attribute '" + name + "'");
  std::string out(size, '\0');
  Handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(mem.get(), size);
  H5Tset_strpad(mem.get(), H5T_STR_NULLPAD);
  H5Tset_cset(mem.get(), H5Tget_cset(type.get()));
  if (H5Aread(a.get(), mem.get(), out.data()) < 0) bad_input(path_, "unreadable attribute '{}'", name);
  out.resize(std::strlen(out.c_str()));
  return out;
}

int64_t File::attr_int(const std::string& obj, const std::string& name) const {
  Handle a = open_attr(*this, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER || attr_elements(*this, a, name) != 1)
    bad_input(path_, "attribute '{}' on {} is not an integer", name, obj);
  int64_t v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_INT64, &v) < 0) bad_input(path_, "unreadable attribute '{}'", name);
  return v;
}

double File::attr_double(const std::string& obj, const std::string& name) const {
  Handle a = open_attr(*this, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if ((cls != H5T_FLOAT && cls != H5T_INTEGER) || attr_elements(*this, a, name) != 1)
    bad_input(path_, "attribute '{}' on {} is not a number", name, obj);
  double v = 0;
  if (H5Aread(a.get(), H5T_NATIVE_DOUBLE, &v) < 0) bad_input(path_, "unreadable attribute '{}'", name);
  return v;
}

std::vector<double> File::attr_doubles(const std::string& obj, const std::string& name) const {
  Handle a = open_attr(*this, obj, name);
  Handle type(H5Aget_type(a.get()), H5Tclose);
  H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) bad_input(path_, "attribute '{}' on {} is not numeric", name, obj);
  std::vector<double> v(static_cast<size_t>(attr_elements(*this, a, name)));
  if (!v.empty() && H5Aread(a.get(), H5T_NATIVE_DOUBLE, v.data()) < 0)
    bad_input(path_, "unreadable attribute '{}'", name);
  return v;
}

void File::write_raw(const std::string& name, hid_t file_type, hid_t mem_type, const void* data,
                     const std::vector<hsize_t>& shape, bool extendable, bool compress) {
  std::vector<hsize_t> maxdims = shape;
  if (extendable) maxdims[0] = H5S_UNLIMITED;
  Handle space(H5Screate_simple(static_cast<int>(shape.size()), shape.data(), maxdims.data()), H5Sclose);
  Handle dcpl = untimed(H5P_DATASET_CREATE);
  hsize_t total = product(shape);
  if (extendable || compress) {
    // Chunks of about 256 KiB of float32: whole rows, so row-range reads touch few chunks.
    std::vector<hsize_t> chunk = shape;
    const hsize_t row = product(std::vector<hsize_t>(shape.begin() + 1, shape.end()));
    const hsize_t rows = std::max<hsize_t>(1, 65536 / std::max<hsize_t>(row, 1));
    chunk[0] = extendable ? rows : std::max<hsize_t>(1, std::min(shape[0], rows));
    H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
    if (compress) {  // level 1: keys and values barely compress (FP16: 13 %); level 4 saved 1.4 % more, slower
      H5Pset_shuffle(dcpl.get());
      H5Pset_deflate(dcpl.get(), 1);
    }
  }
  Handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
  H5Pset_create_intermediate_group(lcpl.get(), 1);
  Handle ds(H5Dcreate2(file_.get(), name.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
            H5Dclose);
  if (!ds) io_error(path_, "cannot create dataset {}", name);
  if (total > 0 && H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    io_error(path_, "cannot write dataset {} (disk full?)", name);
}

namespace {

// HDF5 1.10's own float -> binary16 conversion is a bit-by-bit soft path
// (most of a harvest's time) and rounds wrongly (ties away from zero,
// truncated subnormals, 0.99995 -> 0.5); ours rounds to nearest, ties to
// even, as numpy does (data/golden/f16_rounding.txt), at memory speed.
bool is_f16(hid_t type) { return H5Tequal(type, f16_type()) > 0; }

std::vector<uint16_t> to_half(const float* data, size_t n) {
  std::vector<uint16_t> h(n);
#pragma omp parallel for schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < int64_t(n); ++i) h[size_t(i)] = float_to_half(data[i]);
  return h;
}

}  // namespace

void File::write_floats(const std::string& name, const float* data, const std::vector<hsize_t>& shape,
                        Storage storage, bool extendable) {
  if (storage == Storage::F16) {
    const hsize_t values = std::accumulate(shape.begin(), shape.end(), hsize_t(1), std::multiplies<hsize_t>());
    const std::vector<uint16_t> h = to_half(data, size_t(values));
    return write_raw(name, f16_type(), f16_type(), h.data(), shape, extendable, true);
  }
  write_raw(name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, data, shape, extendable, true);
}
void File::write_ints(const std::string& name, const int32_t* data, hsize_t n, bool extendable) {
  write_raw(name, H5T_STD_I32LE, H5T_NATIVE_INT32, data, {n}, extendable, n > 4096 || extendable);
}
void File::write_u16(const std::string& name, const uint16_t* data, hsize_t n) {
  write_raw(name, H5T_STD_U16LE, H5T_NATIVE_UINT16, data, {n}, false, n > 4096);
}
void File::write_u8(const std::string& name, const uint8_t* data, hsize_t n) {
  write_raw(name, H5T_STD_U8LE, H5T_NATIVE_UINT8, data, {n}, false, n > 4096);
}
void File::write_u64(const std::string& name, const uint64_t* data, hsize_t n) {
  write_raw(name, H5T_STD_U64LE, H5T_NATIVE_UINT64, data, {n}, false, n > 4096);
}

void File::append_raw(const std::string& name, hid_t mem_type, const void* data, hsize_t rows) {
  Handle ds = open_dataset(name);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  hsize_t old_rows = dims[0];
  dims[0] += rows;
  if (H5Dset_extent(ds.get(), dims.data()) < 0) io_error(path_, "cannot extend dataset {}", name);
  Handle fspace(H5Dget_space(ds.get()), H5Sclose);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = old_rows;
  count[0] = rows;
  H5Sselect_hyperslab(fspace.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
  if (rows > 0 && H5Dwrite(ds.get(), mem_type, mspace.get(), fspace.get(), H5P_DEFAULT, data) < 0)
    io_error(path_, "cannot append to dataset {} (disk full?)", name);
}

void File::append_floats(const std::string& name, const float* data, hsize_t rows) {
  {
    Handle ds = open_dataset(name);
    Handle type(H5Dget_type(ds.get()), H5Tclose);
    if (!is_f16(type.get())) return append_raw(name, H5T_NATIVE_FLOAT, data, rows);
  }
  const std::vector<hsize_t> dims = shape(name);
  hsize_t values = rows;
  for (size_t d = 1; d < dims.size(); ++d) values *= dims[d];
  const std::vector<uint16_t> h = to_half(data, size_t(values));
  append_raw(name, f16_type(), h.data(), rows);
}
void File::append_ints(const std::string& name, const int32_t* data, hsize_t n) {
  append_raw(name, H5T_NATIVE_INT32, data, n);
}

Handle File::open_dataset(const std::string& name) const {
  if (!exists(name)) bad_input(path_, "missing dataset {}", name);
  Handle ds(H5Dopen2(file_.get(), name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds) bad_input(path_, "cannot open dataset {}", name);
  return ds;
}

std::vector<hsize_t> File::shape(const std::string& name) const {
  Handle ds = open_dataset(name);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) bad_input(path_, "unreadable shape of dataset {}", name);
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  return dims;
}

bool File::is_float_dataset(const std::string& name) const {
  Handle ds = open_dataset(name);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  return H5Tget_class(type.get()) == H5T_FLOAT;
}

std::vector<float> File::read_floats(const std::string& name, hsize_t row0, hsize_t rows) const {
  Handle ds = open_dataset(name);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_FLOAT) bad_input(path_, "dataset {} is not floating point", name);
  Handle space(H5Dget_space(ds.get()), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  if (dims.empty()) bad_input(path_, "dataset {} is a scalar, expected an array", name);
  if (row0 > dims[0]) bad_input(path_, "dataset {}: row {} past its {} rows", name, row0, dims[0]);
  rows = std::min(rows, dims[0] - row0);
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = row0;
  count[0] = rows;
  hsize_t values = 1;
  for (hsize_t d : count)
    if (__builtin_mul_overflow(values, d, &values)) bad_input(path_, "dataset {} claims an impossible shape", name);
  check_claimed_values(*this, values, kMaxExpansion, "dataset " + name);
  std::vector<float> out(values);
  if (out.empty()) return out;
  H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  Handle mspace(H5Screate_simple(rank, count.data(), nullptr), H5Sclose);
  const bool half = is_f16(type.get());  // read the bits, widen them here (exact)
  std::vector<uint16_t> bits(half ? values : 0);
  if (H5Dread(ds.get(), half ? f16_type() : H5T_NATIVE_FLOAT, mspace.get(), space.get(), H5P_DEFAULT,
              half ? static_cast<void*>(bits.data()) : static_cast<void*>(out.data())) < 0)
    bad_input(path_, "cannot read dataset {} (truncated or corrupt file?)", name);
  if (half) {
#pragma omp parallel for schedule(static) if (values > (1 << 16))
    for (int64_t i = 0; i < int64_t(values); ++i) out[size_t(i)] = half_to_float(bits[size_t(i)]);
  }
  return out;
}

void File::read_raw(const std::string& name, hid_t mem_type, void* out, hsize_t expected) const {
  Handle ds = open_dataset(name);
  Handle type(H5Dget_type(ds.get()), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_INTEGER) bad_input(path_, "dataset {} is not integer", name);
  if (expected > 0 && H5Dread(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0)
    bad_input(path_, "cannot read dataset {} (truncated or corrupt file?)", name);
}

template <typename T>
std::vector<T> File::read_vector(const std::string& name, hid_t mem_type) const {
  auto dims = shape(name);
  if (dims.size() != 1) bad_input(path_, "dataset {} must be 1-D", name);
  check_claimed_values(*this, dims[0], kMaxExpansion, "dataset " + name);
  std::vector<T> out(dims[0]);
  read_raw(name, mem_type, out.data(), dims[0]);
  return out;
}

std::vector<int32_t> File::read_ints(const std::string& name) const {
  return read_vector<int32_t>(name, H5T_NATIVE_INT32);
}
std::vector<uint16_t> File::read_u16(const std::string& name) const {
  return read_vector<uint16_t>(name, H5T_NATIVE_UINT16);
}
std::vector<uint8_t> File::read_u8(const std::string& name) const { return read_vector<uint8_t>(name, H5T_NATIVE_UINT8); }
std::vector<uint64_t> File::read_u64(const std::string& name) const {
  return read_vector<uint64_t>(name, H5T_NATIVE_UINT64);
}

void check_format(const File& f, const std::string& format, int64_t max_version) {
  if (!f.has_attr("/", "format"))
    bad_input(f.path(), "not a lexico file (no 'format' attribute; expected {})", format);
  std::string got = f.attr_string("/", "format");
  if (got != format) bad_input(f.path(), "is a '{}' file, expected '{}'", got, format);
  int64_t version = f.attr_int("/", "version");
  if (version < 1 || version > max_version)
    bad_input(f.path(), "{} version {} is not supported (this lexico reads versions 1..{})", format, version,
              max_version);
}

}  // namespace lexico::h5
