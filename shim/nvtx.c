// NVTX ranges for the shim's own work (nvtx.h). The domain and the registered names are made
// at initialisation (entry.c, on the thread making the program's first driver lookup): NVTX
// looks for a tool there once, never inside dlsym or a library constructor.
#include "shim/nvtx.h"

#include <nvtx3/nvToolsExt.h>

int um_nvtx_on;

static nvtxDomainHandle_t um_nvtx_domain;
static nvtxStringHandle_t um_nvtx_names[UM_NVTX_COUNT];

static const struct {
    const char *name;
    uint32_t argb;
} um_nvtx_kinds[UM_NVTX_COUNT] = {
    [UM_NVTX_PREFETCH] = {"umshim prefetch", 0xff2e86de},
    [UM_NVTX_ADVISE] = {"umshim advise", 0xff8e44ad},
    [UM_NVTX_STAGE_H2D] = {"umshim staged copy HtoD", 0xff27ae60},
    [UM_NVTX_STAGE_D2H] = {"umshim staged copy DtoH", 0xff16a085},
    [UM_NVTX_HOST_COPY] = {"umshim host copy (rewritten memcpy)", 0xffe67e22},
    [UM_NVTX_HOST_SYNC] = {"umshim synchronise before host access", 0xffc0392b},
};

void um_nvtx_init(int on) {
    if (on) {
        // Without a tool both return NULL at once; NVTX accepts NULL handles.
        um_nvtx_domain = nvtxDomainCreateA("umshim");
        for (int i = 0; i < UM_NVTX_COUNT; i++)
            um_nvtx_names[i] = nvtxDomainRegisterStringA(um_nvtx_domain, um_nvtx_kinds[i].name);
    }
    um_nvtx_on = on;
}

void um_nvtx_push_slow(um_nvtx_what_t what, uint64_t bytes) {
    if ((unsigned)what >= UM_NVTX_COUNT)
        return;
    nvtxEventAttributes_t a = {0};
    a.version = NVTX_VERSION;
    a.size = NVTX_EVENT_ATTRIB_STRUCT_SIZE;
    a.colorType = NVTX_COLOR_ARGB;
    a.color = um_nvtx_kinds[what].argb;
    if (um_nvtx_names[what] != NULL) {
        a.messageType = NVTX_MESSAGE_TYPE_REGISTERED;
        a.message.registered = um_nvtx_names[what];
    } else {
        a.messageType = NVTX_MESSAGE_TYPE_ASCII;
        a.message.ascii = um_nvtx_kinds[what].name;
    }
    if (bytes != 0) {
        a.payloadType = NVTX_PAYLOAD_TYPE_UNSIGNED_INT64;
        a.payload.ullValue = bytes;
    }
    nvtxDomainRangePushEx(um_nvtx_domain, &a);
}

void um_nvtx_pop_slow(void) {
    nvtxDomainRangePop(um_nvtx_domain);
}
