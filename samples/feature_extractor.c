/* feature_extractor.c: the tutorial's second experiment, "ConvNet as fixed feature extractor":
 * the whole backbone frozen (--freeze all; its BatchNorm layers use their running statistics),
 * only the new head trained. Public C API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opencv2/cltrain.h>

static void on_epoch(const cltrain_epoch_stats *e, void *user) {
  (void)user;
  printf("epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  (%.1f s, %.1f img/s)\n", e->epoch + 1,
         e->epochs, e->train_loss, e->train_acc, e->val_loss, e->val_acc, e->train_seconds + e->val_seconds,
         e->train_images_per_s);
}

int main(int argc, char **argv) {
  if (argc < 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: feature_extractor MODEL.onnx DATA_DIR [OUT.onnx] [EPOCHS]\n\n"
           "Trains only a new classifier on top of MODEL.onnx's frozen backbone, on the ImageFolder\n"
           "pair DATA_DIR/train, DATA_DIR/val, and exports the best val epoch to OUT.onnx (default\n"
           "feature_extractor.onnx). EPOCHS defaults to 25.\n"
           "The device: $CLTRAIN_DEVICE, else the first GPU, else the first CPU.\n");
    return argc < 3 ? 2 : 0;
  }
  cltrain_context *cx = NULL;
  cltrain_status st = cltrain_context_create(NULL, &cx);
  if (st != CLTRAIN_OK) {
    fprintf(stderr, "%s\n  %s\n", cltrain_status_str(st), cltrain_last_error(NULL));
    return 1;
  }
  cltrain_train_options o = cltrain_train_defaults();
  o.model_path = argv[1];
  o.data_dir = argv[2];
  o.out_path = argc > 3 ? argv[3] : "feature_extractor.onnx";
  if (argc > 4) o.epochs = atoi(argv[4]);
  o.freeze = "all";
  o.on_epoch = on_epoch;
  cltrain_train_result r = cltrain_train_result_init();
  st = cltrain_train_run(cx, &o, &r);
  if (st != CLTRAIN_OK) {
    fprintf(stderr, "%s\n  %s\n", cltrain_status_str(st), cltrain_last_error(cx));
    cltrain_context_destroy(cx);
    return 1;
  }
  printf("best val acc %.4f (epoch %d), exported %s\n", r.best_val_acc, r.best_epoch, o.out_path);
  cltrain_context_destroy(cx);
  return 0;
}
