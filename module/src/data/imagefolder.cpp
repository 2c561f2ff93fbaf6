/* imagefolder.cpp: torchvision.datasets.ImageFolder's class list and sample order, over POSIX
 * directory reads (names are kept as bytes, so any file name works). */
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "data/data.h"
#include "runtime/runtime.h"

struct imagefolder {
  std::string root;
  std::vector<std::string> classes;
  std::vector<std::string> paths; /* relative to root */
  std::vector<int> labels;
};

namespace {

/* torchvision.datasets.folder.IMG_EXTENSIONS, compared with the lower-cased name. */
bool has_image_extension(const std::string &name) {
  static const char *const exts[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp",
                                     ".pgm", ".tif",  ".tiff", ".webp"};
  std::string lower = name;
  for (char &ch : lower)
    if (ch >= 'A' && ch <= 'Z') ch = (char)(ch - 'A' + 'a');
  for (const char *e : exts) {
    size_t n = std::strlen(e);
    if (lower.size() >= n && lower.compare(lower.size() - n, n, e) == 0) return true;
  }
  return false;
}

/* The entries of `dir` (without . and ..), split into folders and files; stat() follows
 * symlinks, as os.walk(followlinks=True) and entry.is_dir() do. Returns errno or 0. */
int list_dir(const std::string &dir, std::vector<std::string> *dirs, std::vector<std::string> *files) {
  DIR *d = opendir(dir.c_str());
  if (!d) return errno ? errno : EIO;
  while (struct dirent *e = readdir(d)) {
    if (!std::strcmp(e->d_name, ".") || !std::strcmp(e->d_name, "..")) continue;
    struct stat st;
    std::string full = dir + "/" + e->d_name;
    if (stat(full.c_str(), &st) != 0) {
      if (files) files->push_back(e->d_name); /* a dangling link: os.walk lists it as a file */
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      if (dirs) dirs->push_back(e->d_name);
    } else if (files) {
      files->push_back(e->d_name);
    }
  }
  closedir(d);
  return 0;
}

/* Every folder under `rel` (itself included), relative to root: what os.walk visits. `depth`
 * stops symlink cycles, which would make os.walk(followlinks=True) run forever. */
bool walk(const std::string &root, const std::string &rel, int depth, std::vector<std::string> *out) {
  if (depth > 64) return false;
  out->push_back(rel);
  std::vector<std::string> dirs;
  if (list_dir(root + "/" + rel, &dirs, nullptr) != 0) return true; /* os.walk skips it */
  for (const std::string &d : dirs)
    if (!walk(root, rel + "/" + d, depth + 1, out)) return false;
  return true;
}

cltrain_status open_folder(cltrain_context *cx, const char *dir, imagefolder *f) {
  f->root = dir;
  struct stat st;
  if (stat(dir, &st) != 0)
    return rt_fail(cx, CLTRAIN_ERR_IO, "image folder '%s': %s", dir, std::strerror(errno));
  if (!S_ISDIR(st.st_mode))
    return rt_fail(cx, CLTRAIN_ERR_IO, "image folder '%s' is not a folder", dir);
  int err = list_dir(f->root, &f->classes, nullptr);
  if (err) return rt_fail(cx, CLTRAIN_ERR_IO, "image folder '%s': %s", dir, std::strerror(err));
  if (f->classes.empty())
    return rt_fail(cx, CLTRAIN_ERR_FORMAT,
                   "image folder '%s' has no class folders (expected DIR/<class>/<image>)", dir);
  std::sort(f->classes.begin(), f->classes.end()); /* std::string compares as unsigned bytes */
  for (size_t c = 0; c < f->classes.size(); c++) {
    /* sorted(os.walk(...)) orders the visited folders by their whole path string. */
    std::vector<std::string> folders;
    if (!walk(f->root, f->classes[c], 0, &folders))
      return rt_fail(cx, CLTRAIN_ERR_FORMAT,
                     "image folder '%s': folders nested over 64 deep under class '%s' (a symlink "
                     "cycle?)", dir, f->classes[c].c_str());
    std::sort(folders.begin(), folders.end());
    size_t before = f->paths.size();
    for (const std::string &rel : folders) {
      std::vector<std::string> files;
      if (list_dir(f->root + "/" + rel, nullptr, &files) != 0) continue;
      std::sort(files.begin(), files.end());
      for (const std::string &name : files)
        if (has_image_extension(name)) {
          f->paths.push_back(rel + "/" + name);
          f->labels.push_back((int)c);
        }
    }
    if (f->paths.size() == before)
      return rt_fail(cx, CLTRAIN_ERR_FORMAT,
                     "class folder '%s/%s' holds no image (extensions: .jpg .jpeg .png .ppm .bmp "
                     ".pgm .tif .tiff .webp)", dir, f->classes[c].c_str());
  }
  return CLTRAIN_OK;
}

}  // namespace

extern "C" {

cltrain_status imagefolder_open(cltrain_context *cx, const char *dir, imagefolder **out) {
  if (!out) return rt_fail(cx, CLTRAIN_ERR_ARG, "imagefolder_open: out is NULL");
  *out = nullptr;
  if (!dir) return rt_fail(cx, CLTRAIN_ERR_ARG, "imagefolder_open: dir is NULL");
  try {
    imagefolder *f = new imagefolder;
    cltrain_status st = open_folder(cx, dir, f);
    if (st != CLTRAIN_OK) {
      delete f;
      return st;
    }
    *out = f;
    return CLTRAIN_OK;
  } catch (const std::bad_alloc &) {
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of memory listing '%s'", dir);
  } catch (const std::exception &e) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "listing '%s': %s", dir, e.what());
  } catch (...) {
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "listing '%s': unknown exception", dir);
  }
}

void imagefolder_close(imagefolder *f) { delete f; }

const char *imagefolder_root(const imagefolder *f) { return f->root.c_str(); }
int imagefolder_size(const imagefolder *f) { return (int)f->paths.size(); }
int imagefolder_num_classes(const imagefolder *f) { return (int)f->classes.size(); }

const char *imagefolder_class_name(const imagefolder *f, int c) {
  return c >= 0 && c < (int)f->classes.size() ? f->classes[c].c_str() : nullptr;
}
const char *imagefolder_path(const imagefolder *f, int i) {
  return i >= 0 && i < (int)f->paths.size() ? f->paths[i].c_str() : nullptr;
}
int imagefolder_label(const imagefolder *f, int i) {
  return i >= 0 && i < (int)f->labels.size() ? f->labels[i] : -1;
}

cltrain_status imagefolder_same_classes(cltrain_context *cx, const imagefolder *a,
                                        const imagefolder *b) {
  if (!a || !b) return rt_fail(cx, CLTRAIN_ERR_ARG, "imagefolder_same_classes: NULL folder");
  size_t n = std::max(a->classes.size(), b->classes.size());
  for (size_t c = 0; c < n; c++) {
    const char *ca = c < a->classes.size() ? a->classes[c].c_str() : nullptr;
    const char *cb = c < b->classes.size() ? b->classes[c].c_str() : nullptr;
    if (ca && cb && !std::strcmp(ca, cb)) continue;
    if (!cb)
      return rt_fail(cx, CLTRAIN_ERR_FORMAT, "class '%s' of '%s' is missing from '%s'", ca,
                     a->root.c_str(), b->root.c_str());
    if (!ca)
      return rt_fail(cx, CLTRAIN_ERR_FORMAT, "class '%s' of '%s' is missing from '%s'", cb,
                     b->root.c_str(), a->root.c_str());
    return rt_fail(cx, CLTRAIN_ERR_FORMAT,
                   "class folders differ: class %zu is '%s' in '%s' but '%s' in '%s'", c, ca,
                   a->root.c_str(), cb, b->root.c_str());
  }
  return CLTRAIN_OK;
}

}  // extern "C"
