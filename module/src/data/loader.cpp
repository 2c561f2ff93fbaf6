/* loader.cpp: the batch loader. Worker threads take images one at a time, in epoch order, and
 * decode them into a ring of `prefetch` batch slots ahead of the consumer; loader_next hands out
 * the slots in order. Every image's randomness is a function of (seed, epoch, index), so the
 * batches are the same whatever the number of workers and however they are scheduled. */
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "data/data.h"
#include "runtime/runtime.h"

namespace {

struct slot {
  int batch = -1;    /* the batch this slot holds, -1 when free */
  int count = 0;     /* images in it */
  int done = 0;      /* images finished */
  std::vector<float> x;          /* (batch_size, 3, crop, crop) */
  std::vector<int32_t> labels;   /* (batch_size) */
  std::vector<int32_t> index;    /* (batch_size): ImageFolder indices */
  std::vector<cltrain_status> status; /* per image */
  std::vector<std::string> error;     /* per image, when status is not OK */
};

}  // namespace

struct loader {
  cltrain_context *cx;
  const imagefolder *folder;
  transform_params t;
  loader_options o;
  int nbatches = 0, nimages = 0; /* per epoch, after drop_last */
  size_t image_floats = 0;
  std::vector<std::thread> threads;

  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  bool quit = false;
  uint32_t epoch = 0;
  std::vector<int32_t> order;  /* the epoch's sample indices */
  int next_image = 0;       /* the next image (position in `order`) a worker takes */
  int limit_image = 0;      /* workers stop here: the epoch's end, or 0 between epochs */
  int consumed = 0;         /* batches handed out to the consumer */
  int released = 0;         /* batches the consumer is done with: their slots are free */
  int inflight = 0;         /* images being decoded right now */
  std::vector<slot> slots;

  /* the consumer's side */
  bool holding = false;      /* a slot is handed out until the next call */
  std::vector<float> out_x;  /* compacted batch when images were skipped */
  std::vector<int32_t> out_labels, out_index;
  const int32_t *batch_index = nullptr; /* the indices of the batch handed out */
  double wait_s = 0;
  int skipped = 0;
  std::string last_skipped;
};

namespace {

/* This rank's share of the epoch's order (loader_options.rank): every image for one rank. */
int share_size(const loader *l) {
  int n = imagefolder_size(l->folder), k = l->o.ranks > 1 ? l->o.ranks : 1;
  if (l->o.pad) return (n + k - 1) / k;
  return n / k + (l->o.rank < n % k);
}

int batch_images(const loader *l, int b) {
  return std::min(l->o.batch_size, l->nimages - b * l->o.batch_size);
}

void worker_main(loader *l) {
  std::unique_lock<std::mutex> lock(l->mu);
  for (;;) {
    /* Take the next image once its batch fits in the ring. */
    l->work_cv.wait(lock, [l] {
      if (l->quit) return true;
      if (l->next_image >= l->limit_image) return false;
      return l->next_image / l->o.batch_size < l->released + l->o.prefetch;
    });
    if (l->quit) return;
    int pos = l->next_image++;
    int b = pos / l->o.batch_size, k = pos % l->o.batch_size;
    slot &s = l->slots[b % l->o.prefetch];
    if (s.batch != b) { /* first image of this batch to start: claim the slot */
      s.batch = b;
      s.count = batch_images(l, b);
      s.done = 0;
    }
    int index = l->order[pos];
    uint32_t epoch = l->epoch;
    l->inflight++;
    lock.unlock();

    cltrain_status st;
    std::string msg;
    try { /* an exception escaping a thread would terminate the process */
      std::string path = std::string(imagefolder_root(l->folder)) + "/" + imagefolder_path(l->folder, index);
      cltrain_rng r = transform_augment_rng(l->o.seed, epoch, (uint32_t)index);
      st = transform_image(nullptr, path.c_str(), &l->t, &r, s.x.data() + (size_t)k * l->image_floats);
      if (st != CLTRAIN_OK) msg = cltrain_last_error(nullptr);
    } catch (...) {
      st = CLTRAIN_ERR_OUT_OF_MEMORY;
    }

    lock.lock();
    s.labels[k] = imagefolder_label(l->folder, index);
    s.index[k] = index;
    s.status[k] = st;
    s.error[k] = std::move(msg);
    s.done++;
    l->inflight--;
    l->ready_cv.notify_all();
  }
}

/* Stops handing out images and waits for the ones being decoded, then empties the ring. */
void drain(loader *l, std::unique_lock<std::mutex> &lock) {
  l->limit_image = 0;
  l->ready_cv.wait(lock, [l] { return l->inflight == 0; });
  for (slot &s : l->slots) s.batch = -1;
  l->holding = false;
}

cltrain_status create(cltrain_context *cx, const imagefolder *f, const transform_params *t,
                      const loader_options *o, loader *l) {
  l->cx = cx;
  l->folder = f;
  l->t = *t;
  l->o = *o;
  if (l->o.workers <= 0) l->o.workers = std::max(1, (int)std::thread::hardware_concurrency() - 1);
  if (l->o.prefetch <= 0) l->o.prefetch = 3;
  int n = share_size(l), bs = l->o.batch_size;
  l->nbatches = l->o.drop_last ? n / bs : (n + bs - 1) / bs;
  l->nimages = std::min(n, l->nbatches * bs);
  l->image_floats = (size_t)3 * t->crop * t->crop;
  l->slots.resize(l->o.prefetch);
  int most = std::max(1, std::min(bs, n)); /* a batch never holds more than the folder's images */
  for (slot &s : l->slots) {
    s.x.resize(l->image_floats * most);
    s.labels.resize(most);
    s.index.resize(most);
    s.status.resize(most);
    s.error.resize(most);
  }
  for (int w = 0; w < l->o.workers; w++) l->threads.emplace_back(worker_main, l);
  return CLTRAIN_OK;
}

void make_order(const loader *l, uint32_t epoch, int32_t *order) {
  int n = imagefolder_size(l->folder);
  std::vector<int32_t> all(n);
  for (int i = 0; i < n; i++) all[i] = i;
  if (l->o.shuffle) { /* Fisher-Yates: a uniform permutation, as torch.randperm gives */
    /* the same per-epoch key as the augmentation, on the shuffling stream */
    cltrain_rng r = rng_make(transform_augment_rng(l->o.seed, epoch, 0).seed, RNG_STREAM_SHUFFLE);
    for (int i = n - 1; i > 0; i--) std::swap(all[i], all[rng_below(&r, (uint32_t)i + 1)]);
  }
  int k = l->o.ranks > 1 ? l->o.ranks : 1, share = share_size(l);
  for (int j = 0; j < share; j++) order[j] = all[(size_t)(l->o.rank + j * k) % n]; /* pad: wraps */
}

void stop(loader *l) {
  {
    std::lock_guard<std::mutex> lock(l->mu);
    l->quit = true;
  }
  l->work_cv.notify_all();
  for (std::thread &th : l->threads) th.join();
  l->threads.clear();
}

}  // namespace

extern "C" {

loader_options loader_defaults(void) {
  loader_options o;
  std::memset(&o, 0, sizeof o);
  o.batch_size = 4;
  return o;
}

cltrain_status loader_create(cltrain_context *cx, const imagefolder *f, const transform_params *t,
                             const loader_options *o, loader **out) {
  if (!out) return rt_fail(cx, CLTRAIN_ERR_ARG, "loader_create: out is NULL");
  *out = nullptr;
  if (!f || !t || !o) return rt_fail(cx, CLTRAIN_ERR_ARG, "loader_create: NULL argument");
  if (o->batch_size <= 0 || t->crop <= 0)
    return rt_fail(cx, CLTRAIN_ERR_ARG, "loader_create: batch size %d, crop %d", o->batch_size, t->crop);
  loader *l = nullptr;
  try {
    l = new loader;
    cltrain_status st = create(cx, f, t, o, l);
    if (st != CLTRAIN_OK) {
      loader_destroy(l);
      return st;
    }
    *out = l;
    return CLTRAIN_OK;
  } catch (const std::bad_alloc &) {
    loader_destroy(l);
    return rt_fail(cx, CLTRAIN_ERR_OUT_OF_MEMORY, "loader_create: out of memory (batch %d)", o->batch_size);
  } catch (const std::exception &e) {
    loader_destroy(l);
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "loader_create: %s", e.what());
  } catch (...) {
    loader_destroy(l);
    return rt_fail(cx, CLTRAIN_ERR_INTERNAL, "loader_create: unknown exception");
  }
}

void loader_destroy(loader *l) {
  if (!l) return;
  stop(l);
  delete l;
}

cltrain_status loader_start_epoch(loader *l, uint32_t epoch) {
  if (!l) return rt_fail(nullptr, CLTRAIN_ERR_ARG, "loader_start_epoch: NULL loader");
  try {
    std::unique_lock<std::mutex> lock(l->mu);
    drain(l, lock);
    l->order.resize(share_size(l));
    make_order(l, epoch, l->order.data());
    l->epoch = epoch;
    l->next_image = 0;
    l->consumed = 0;
    l->released = 0;
    l->limit_image = l->nimages;
  } catch (const std::exception &e) {
    return rt_fail(l->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "loader_start_epoch: %s", e.what());
  }
  l->work_cv.notify_all();
  return CLTRAIN_OK;
}

int loader_done(const loader *l) { return l->consumed >= l->nbatches; }

cltrain_status loader_next(loader *l, const float **x, const int32_t **labels, int *n) {
  if (!l || !x || !labels || !n) return rt_fail(l ? l->cx : nullptr, CLTRAIN_ERR_ARG, "loader_next: NULL argument");
  *x = nullptr, *labels = nullptr, *n = 0;
  try {
    std::unique_lock<std::mutex> lock(l->mu);
    for (;;) {
      if (l->holding) { /* release the batch handed out last time */
        l->slots[(l->consumed - 1) % l->o.prefetch].batch = -1;
        l->holding = false;
        l->released++;
        l->work_cv.notify_all();
      }
      if (l->consumed >= l->nbatches || l->limit_image == 0) return CLTRAIN_OK;
      int b = l->consumed;
      slot &s = l->slots[b % l->o.prefetch];
      auto t0 = std::chrono::steady_clock::now();
      l->ready_cv.wait(lock, [&] { return s.batch == b && s.done == s.count; });
      l->wait_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      l->consumed++;
      l->holding = true;

      int good = 0;
      for (int k = 0; k < s.count; k++) good += s.status[k] == CLTRAIN_OK;
      if (good == s.count) {
        *x = s.x.data(), *labels = s.labels.data(), *n = s.count;
        l->batch_index = s.index.data();
        return CLTRAIN_OK;
      }
      if (!l->o.skip_bad) {
        for (int k = 0; k < s.count; k++)
          if (s.status[k] != CLTRAIN_OK) return rt_fail(l->cx, s.status[k], "%s", s.error[k].c_str());
      }
      /* Skip the bad images: copy the good ones out, in order. */
      l->out_x.resize(l->image_floats * (size_t)s.count);
      l->out_labels.resize(s.count);
      l->out_index.resize(s.count);
      int m = 0;
      for (int k = 0; k < s.count; k++) {
        if (s.status[k] != CLTRAIN_OK) {
          l->skipped++;
          l->last_skipped = s.error[k];
          continue;
        }
        std::memcpy(l->out_x.data() + (size_t)m * l->image_floats, s.x.data() + (size_t)k * l->image_floats,
                    l->image_floats * sizeof(float));
        l->out_labels[m] = s.labels[k];
        l->out_index[m++] = s.index[k];
      }
      if (m == 0) continue; /* a batch of bad images only: go on to the next */
      *x = l->out_x.data(), *labels = l->out_labels.data(), *n = m;
      l->batch_index = l->out_index.data();
      return CLTRAIN_OK;
    }
  } catch (const std::exception &e) {
    return rt_fail(l->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "loader_next: %s", e.what());
  }
}

const int32_t *loader_batch_indices(const loader *l) { return l->batch_index; }

cltrain_status loader_epoch_order(const loader *l, uint32_t epoch, int32_t *order) {
  if (!l || !order) return rt_fail(l ? l->cx : nullptr, CLTRAIN_ERR_ARG, "loader_epoch_order: NULL argument");
  make_order(l, epoch, order);
  return CLTRAIN_OK;
}

int loader_num_batches(const loader *l) { return l->nbatches; }
int loader_epoch_images(const loader *l) { return share_size(l); }
int loader_workers(const loader *l) { return (int)l->threads.size(); }
double loader_wait_seconds(const loader *l) { return l->wait_s; }
int loader_skipped(const loader *l) { return l->skipped; }
const char *loader_last_skipped(const loader *l) { return l->last_skipped.c_str(); }

}  // extern "C"
