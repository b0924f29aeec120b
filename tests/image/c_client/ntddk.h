/*
 * The few WDK declarations include/pushlock_filter.h relies on, for the C-client test on a
 * machine without the WDK. Same names and meanings as the WDK's ntddk.h; nothing else.
 */
#pragma once

#define VOID void
#define NTAPI __stdcall
#define _In_
#define _Out_
#define _Inout_

typedef unsigned char BOOLEAN;
typedef unsigned long ULONG;
typedef unsigned long long ULONG_PTR;
typedef unsigned long long ULONG64;

#define DECLSPEC_ALIGN(x) __declspec(align(x))
#define NULL ((void *)0)
typedef long NTSTATUS;

typedef struct _UNICODE_STRING {
    unsigned short Length;
    unsigned short MaximumLength;
    unsigned short *Buffer; /* PWCH: UTF-16 */
} UNICODE_STRING, *PUNICODE_STRING;
